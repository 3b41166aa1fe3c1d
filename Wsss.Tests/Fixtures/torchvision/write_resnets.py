"""Writes torchvision ResNet state_dicts with random weights and their features, for TorchvisionWeightsTests.

Usage: python3 write_resnets.py OUTDIR
For each of resnet18, resnet50, resnet101: OUTDIR/<arch>.pth (torch.save of the state_dict, PyTorch's zip format)
and the features of one fixed random input (OUTDIR/input.bin, 1x3x64x64 float32) after layer4, as raw float32:
<arch>_os32.bin for the network as built, and <arch>_os8.bin with replace_stride_with_dilation=[False, True, True]
(ResNet-50/101 only: torchvision refuses dilation in the basic block of ResNet-18). BatchNorm statistics and affine
parameters are randomised too (torchvision initialises them to 0/1, which would hide a mix-up). Nothing is trained
and nothing is downloaded.
"""
import json
import os
import sys

import torch
import torchvision

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
torch.set_num_threads(2)
x = torch.randn(1, 3, 64, 64)
x.numpy().astype("float32").tofile(os.path.join(out, "input.bin"))


def features(m, x):
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer4(m.layer3(m.layer2(m.layer1(x))))


shapes = {}
for arch in ["resnet18", "resnet50", "resnet101"]:
    build = getattr(torchvision.models, arch)
    m = build(weights=None)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0, 0.2)
                mod.running_mean.normal_(0, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
        # Kaiming fan-out init with 1/0 BatchNorm lets the activations grow block by block; scale the residual
        # branches' last BatchNorm down so the features of deep networks stay of order 1.
        for mod in m.modules():
            last = getattr(mod, "bn3", None) or (getattr(mod, "bn2", None) if arch == "resnet18" else None)
            if last is not None:
                last.weight.mul_(0.2)
    m.eval()
    torch.save(m.state_dict(), os.path.join(out, arch + ".pth"))
    with torch.no_grad():
        y = features(m, x)
        y.numpy().astype("float32").tofile(os.path.join(out, arch + "_os32.bin"))
        shapes[arch + "_os32"] = list(y.shape)
        if arch != "resnet18":
            d = build(weights=None, replace_stride_with_dilation=[False, True, True])
            d.load_state_dict(m.state_dict())
            d.eval()
            y = features(d, x)
            y.numpy().astype("float32").tofile(os.path.join(out, arch + "_os8.bin"))
            shapes[arch + "_os8"] = list(y.shape)

with open(os.path.join(out, "shapes.json"), "w") as f:
    json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "shapes": shapes}, f)
