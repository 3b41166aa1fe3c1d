#!/usr/bin/python3
"""The network part of one RRM training step in PyTorch, for `Wsss.Samples bench training`.

Same network as Wsss (MobileNetV1 at output stride 8 with TensorFlow 'same' padding, frozen
BatchNorm, ReLU6; or, with --backbone resnet18, torchvision's ResNet-18 layout at output stride 8, layer3 and
layer4 dilated 2 and 4, frozen BatchNorm, --blocks per stage (2,2,2,3 is ML.NET's ONNX ResNet-18); RRM's classification head (Dropout2d 0.5, GAP, 1x1 conv, CAM from the same weights)
and segmentation head (two 3x3 dilation-12 convs)), same step: forward at scale 1, CAM-only forwards
without gradients at 0.5, 1.5, 2.0, CAM normalisation, classification loss + balanced seeded
cross-entropy + the dense energy loss's autograd graph, backward, SGD with the four parameter groups. The
CRFs and the energy loss's bilateral filtering (the permutohedral lattice) are not part of PyTorch: the seeds
are random labels and the filtered W S is a random constant, so the step holds the same tensor work as Wsss's
(softmax of the upsampled logits, 2x2 mean to half resolution, gate, surrogate, and their backward) without
the filter, whose time is in Wsss's 'losses' part, not its network part. Random weights and inputs: only the
time matters.

Prints one JSON object: median milliseconds per part over --steps steps after --warmup steps.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def same_pad(size, k, stride, dilation):
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class TfSameConv(nn.Module):
    def __init__(self, cin, cout, k, stride=1, dilation=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, 0, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.bn.weight.requires_grad_(False)
        self.bn.bias.requires_grad_(False)
        self.k, self.stride, self.dilation = k, stride, dilation

    def forward(self, x):
        t, b = same_pad(x.shape[2], self.k, self.stride, self.dilation)
        l, r = same_pad(x.shape[3], self.k, self.stride, self.dilation)
        if t == b and l == r:
            y = F.conv2d(x, self.conv.weight, None, self.stride, (t, l), self.dilation, self.conv.groups)
        else:
            y = F.conv2d(F.pad(x, (l, r, t, b)), self.conv.weight, None, self.stride, 0, self.dilation, self.conv.groups)
        # Frozen BatchNorm: running statistics in both modes, as Wsss.
        y = F.batch_norm(y, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias, False, 0.0, 1e-3)
        return F.relu6(y)


class MobileNetV1(nn.Module):
    FILTERS = [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]

    def __init__(self, alpha, output_stride=8):
        super().__init__()
        c = int(32 * alpha)
        layers = [TfSameConv(3, c, 3, 2)]
        current, rate = 2, 1
        for f, s in zip(self.FILTERS, self.STRIDES):
            d = 1
            if current == output_stride:
                d, rate, s = rate, rate * s, 1
            else:
                current *= s
            layers.append(TfSameConv(c, c, 3, s, d, groups=c))
            out = int(f * alpha)
            layers.append(TfSameConv(c, out, 1))
            c = out
        self.layers = nn.Sequential(*layers)
        self.out_channels = c

    def forward(self, x):
        return self.layers(x)


class FrozenConvBn(nn.Module):
    """conv -> BatchNorm with running statistics in both modes and no affine gradient (as RRM, and Wsss)."""

    def __init__(self, cin, cout, k, stride=1, dilation=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.bn.weight.requires_grad_(False)
        self.bn.bias.requires_grad_(False)

    def forward(self, x):
        return F.batch_norm(self.conv(x), self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias, False, 0.0, 1e-5)


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride, dilation):
        super().__init__()
        self.c1 = FrozenConvBn(cin, planes, 3, stride, dilation)
        self.c2 = FrozenConvBn(planes, planes, 3, 1, dilation)
        self.down = FrozenConvBn(cin, planes, 1, stride) if stride != 1 or cin != planes else None

    def forward(self, x):
        y = self.c2(F.relu(self.c1(x), inplace=True))
        return F.relu(y + (x if self.down is None else self.down(x)), inplace=True)


class ResNet18(nn.Module):
    """torchvision's layout; below output stride 8 the strides become dilations (the first block of a dilated
    stage keeps the previous dilation, as torchvision's replace_stride_with_dilation)."""

    def __init__(self, blocks=(2, 2, 2, 2), output_stride=8):
        super().__init__()
        self.stem = FrozenConvBn(3, 64, 7, 2)
        layers, cin, dilation, current = [], 64, 1, 4
        for i, count in enumerate(blocks):
            planes, stride, previous = 64 << i, (1 if i == 0 else 2), dilation
            if stride > 1 and current >= output_stride:
                dilation, stride = dilation * stride, 1
            else:
                current *= stride
            stage = [BasicBlock(cin, planes, stride, previous)]
            cin = planes
            stage += [BasicBlock(cin, planes, 1, dilation) for _ in range(count - 1)]
            layers.append(nn.Sequential(*stage))
        self.layers = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x):
        return self.layers(F.max_pool2d(F.relu(self.stem(x), inplace=True), 3, 2, 1))


class Rrm(nn.Module):
    def __init__(self, backbone, classes):
        super().__init__()
        self.backbone = backbone
        ch = backbone.out_channels
        self.classifier = nn.Conv2d(ch, classes, 1, bias=False)
        self.seg1 = nn.Conv2d(ch, 512, 3, padding=12, dilation=12)
        self.seg2 = nn.Conv2d(512, classes + 1, 3, padding=12, dilation=12)
        for m in (self.classifier, self.seg1, self.seg2):
            nn.init.xavier_uniform_(m.weight)

    def forward(self, x):
        f = self.backbone(x)
        logits = self.classifier(F.adaptive_avg_pool2d(F.dropout2d(f, 0.5, self.training), 1)).flatten(1)
        cam = F.relu(F.conv2d(f, self.classifier.weight))
        seg = self.seg2(F.relu(self.seg1(f)))
        return logits, cam, seg

    def cam_only(self, x):
        return F.relu(F.conv2d(self.backbone(x), self.classifier.weight))


def multi_scale_cam(net, images, labels, cam1, scales=(0.5, 1.5, 2.0)):
    n, _, h, w = images.shape
    with torch.no_grad():
        base = cam1.detach()
        total = base
        for s in scales:
            resized = F.interpolate(images, (int(h * s), int(w * s)), mode='bilinear', align_corners=False)
            cam = net.cam_only(resized)
            total = total + F.interpolate(cam, base.shape[2:], mode='bilinear', align_corners=False)
        mean = total / (len(scales) + 1)
        up = F.interpolate(mean, (h, w), mode='bilinear', align_corners=False) * labels.view(n, -1, 1, 1)
        peak = up.amax((2, 3), keepdim=True)
        return up / (peak + 1e-5)


def seeded_ce(z, seeds):
    bg = seeds.eq(0)
    fg = seeds.ne(0) & seeds.ne(255)
    lb = F.cross_entropy(z, seeds.masked_fill(~bg, 255), ignore_index=255, reduction='sum') / bg.sum().clamp(min=1)
    lf = F.cross_entropy(z, seeds.masked_fill(~fg, 255), ignore_index=255, reduction='sum') / fg.sum().clamp(min=1)
    return lb + lf


def energy_graph(z, seeds, ws, weight=1e-7):
    """Wsss's DenseEnergyLoss at scale 0.5 with the reference gradient, W S given: L = -(w/N) sum Gate S (W S),
    back-propagated through the surrogate sum S * sg(-2 (w/N) Gate W S) (the whole crop is image here)."""
    n = z.shape[0]
    ph = F.avg_pool2d(F.softmax(z, 1), 2)
    h, w = ph.shape[2:]
    unlabelled = seeds[:, 0:2 * h:2, 0:2 * w:2].eq(255).unsqueeze(1)
    roi = torch.ones(n, 1, h, w)
    gate = (roi - ph.detach().amax(1, keepdim=True)).clamp(min=0).masked_fill(unlabelled, 1.0)
    seg = ph * roi
    coefficient = -weight / n
    value = (gate * seg.detach() * ws).sum() * coefficient
    surrogate = (seg * (gate * ws)).sum() * 2.0
    return (surrogate - surrogate.detach()) * coefficient + value


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--backbone', default='mobilenet', choices=['mobilenet', 'resnet18'])
    p.add_argument('--blocks', default='2,2,2,2', help='ResNet-18 blocks per stage')
    p.add_argument('--width', type=float, default=0.75)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--crop', type=int, default=321)
    p.add_argument('--classes', type=int, default=20)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    backbone = MobileNetV1(a.width) if a.backbone == 'mobilenet' else ResNet18(tuple(int(b) for b in a.blocks.split(',')))
    net = Rrm(backbone, a.classes)
    net.train()
    bb_w, bb_b, hd_w, hd_b = [], [], [], []
    for name, prm in net.named_parameters():
        if not prm.requires_grad:
            continue
        head = not name.startswith('backbone.')
        bias = name.endswith('.bias')
        (hd_b if head and bias else hd_w if head else bb_b if bias else bb_w).append(prm)
    lr = 7e-4
    opt = torch.optim.SGD([
        {'params': bb_w, 'lr': lr, 'weight_decay': 1e-5},
        {'params': bb_b, 'lr': 2 * lr, 'weight_decay': 0},
        {'params': hd_w, 'lr': 10 * lr, 'weight_decay': 1e-5},
        {'params': hd_b, 'lr': 20 * lr, 'weight_decay': 0}], lr=lr, momentum=0)

    n, s, c = a.batch, a.crop, a.classes
    names = ['forward', 'cam', 'losses', 'backward', 'optimizer']
    times = {k: [] for k in names}
    for step in range(a.warmup + a.steps):
        images = torch.randn(n, 3, s, s)
        labels = (torch.rand(n, c) < 0.15).float()
        labels[:, 0] = 1
        seeds = torch.randint(0, c + 1, (n, s, s))
        seeds[torch.rand(n, s, s) < 0.5] = 255
        ws = torch.rand(n, c + 1, s // 2, s // 2)
        t0 = time.perf_counter()
        logits, cam1, seg = net(images)
        t1 = time.perf_counter()
        cams = multi_scale_cam(net, images, labels, cam1)
        cams.sum().item()
        t2 = time.perf_counter()
        cls = F.multilabel_soft_margin_loss(logits, labels)
        # Upsampled once for both losses, as Wsss does.
        z = F.interpolate(seg, seeds.shape[1:], mode='bilinear', align_corners=False)
        total = cls + seeded_ce(z, seeds) + energy_graph(z, seeds, ws)
        total.item()
        t3 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        total.backward()
        t4 = time.perf_counter()
        opt.step()
        t5 = time.perf_counter()
        if step >= a.warmup:
            for k, v in zip(names, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                times[k].append(v * 1000)
    result = {k: statistics.median(v) for k, v in times.items()}
    result['torch'] = torch.__version__
    result['threads'] = torch.get_num_threads()
    print(json.dumps(result))


if __name__ == '__main__':
    main()
