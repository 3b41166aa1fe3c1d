using System.Globalization;
using TorchSharp;
using Wsss.Engine;
using TorchSharp.Modules;
using Wsss.Model.Layers;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// ResNet-50 (He et al. 2016, torchvision's v1.5 layout: stride on the 3x3 convolution) at output
/// stride 8: layer3 and layer4 are dilated (2 and 4) instead of strided, torchvision's
/// replace_stride_with_dilation = [False, True, True]. Parameter names are torchvision's
/// ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer1.0.downsample.0.weight",
/// "layer1.0.downsample.1.weight", ...), without the "fc" classifier, whose weights
/// <see cref="Backbone.LoadWeights"/> reports as unused. Input: ImageNet mean/std normalisation.
/// </summary>
public sealed class ResNet50 : Backbone
{
    private readonly Conv2d conv1;
    private readonly FreezableBatchNorm2d bn1;
    private readonly Sequential[] stages;

    /// <summary>Creates the network with torchvision's initialisation (Kaiming-normal fan-out convolutions).</summary>
    /// <param name="frozenBatchNorm">Freeze every BatchNorm (default true, as RRM).</param>
    public ResNet50(bool frozenBatchNorm = true)
        : base(nameof(ResNet50))
    {
        conv1 = nn.Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false);
        bn1 = new FreezableBatchNorm2d(64);
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        long inChannels = 64;
        long dilation = 1;
        (long Planes, int Blocks, long Stride, bool Dilate)[] config =
        [
            (64, 3, 1, false),
            (128, 4, 2, false),
            (256, 6, 2, true),
            (512, 3, 2, true),
        ];
        stages = new Sequential[config.Length];
        for (int s = 0; s < config.Length; s++)
        {
            var (planes, count, stride, dilate) = config[s];
            long previousDilation = dilation;
            if (dilate)
            {
                dilation *= stride;
                stride = 1;
            }

            var blocks = new List<nn.Module<Tensor, Tensor>>
            {
                // As torchvision: the first block of a dilated stage still uses the previous dilation.
                new Bottleneck(inChannels, planes, stride, previousDilation),
            };
            inChannels = planes * Bottleneck.Expansion;
            for (int b = 1; b < count; b++)
            {
                blocks.Add(new Bottleneck(inChannels, planes, 1, dilation));
            }

            stages[s] = nn.Sequential(blocks.ToArray());
            register_module("layer" + (s + 1).ToString(CultureInfo.InvariantCulture), stages[s]);
        }

        foreach (var conv in modules().OfType<Conv2d>())
        {
            Init.KaimingNormalFanOut(conv.weight!);
        }

        FrozenBatchNorm = frozenBatchNorm;
    }

    /// <inheritdoc/>
    public override BackboneKind Kind => BackboneKind.ResNet50;

    /// <inheritdoc/>
    public override long OutputChannels => 2048;

    /// <inheritdoc/>
    public override InputNormalization Normalization => InputNormalization.ImageNet;

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        Tensor x = nn.functional.max_pool2d(nn.functional.relu(bn1.forward(conv1.forward(input))), [3, 3], [2, 2], [1, 1]);
        foreach (var stage in stages)
        {
            x = stage.forward(x);
        }

        return x;
    }

    /// <summary>torchvision's Bottleneck: 1x1, 3x3 (stride, dilation), 1x1 x4, each with BN; ReLU after the sum.</summary>
    private sealed class Bottleneck : nn.Module<Tensor, Tensor>
    {
        public const long Expansion = 4;

        private readonly Conv2d conv1;
        private readonly FreezableBatchNorm2d bn1;
        private readonly Conv2d conv2;
        private readonly FreezableBatchNorm2d bn2;
        private readonly Conv2d conv3;
        private readonly FreezableBatchNorm2d bn3;
        private readonly Sequential? downsample;

        public Bottleneck(long inChannels, long planes, long stride, long dilation)
            : base(nameof(Bottleneck))
        {
            conv1 = nn.Conv2d(inChannels, planes, 1, bias: false);
            bn1 = new FreezableBatchNorm2d(planes);
            conv2 = nn.Conv2d(planes, planes, 3, stride, padding: dilation, dilation: dilation, bias: false);
            bn2 = new FreezableBatchNorm2d(planes);
            conv3 = nn.Conv2d(planes, planes * Expansion, 1, bias: false);
            bn3 = new FreezableBatchNorm2d(planes * Expansion);
            if (stride != 1 || inChannels != planes * Expansion)
            {
                downsample = nn.Sequential(
                    nn.Conv2d(inChannels, planes * Expansion, 1, stride, bias: false),
                    new FreezableBatchNorm2d(planes * Expansion));
            }

            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var r1 = nn.functional.relu(bn1.forward(conv1.forward(input)));
            var r2 = nn.functional.relu(bn2.forward(conv2.forward(r1)));
            var b3 = bn3.forward(conv3.forward(r2));
            var shortcut = downsample is null ? input : downsample.forward(input);
            return nn.functional.relu(b3.Plus(shortcut));
        }
    }
}
