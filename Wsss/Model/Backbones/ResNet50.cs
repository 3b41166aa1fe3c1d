using System.Globalization;
using Wsss.Torch;
using Wsss.Torch.Nn;

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
    private readonly BatchNorm2d bn1;
    private readonly Sequential[] stages;

    /// <summary>Creates the network with torchvision's initialisation (Kaiming-normal fan-out convolutions).</summary>
    /// <param name="frozenBatchNorm">Freeze every BatchNorm (default true, as RRM).</param>
    public ResNet50(bool frozenBatchNorm = true)
    {
        conv1 = RegisterModule("conv1", new Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false));
        bn1 = RegisterModule("bn1", new BatchNorm2d(64));
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

            var stage = new Sequential();
            // As torchvision: the first block of a dilated stage still uses the previous dilation.
            stage.Add(new Bottleneck(inChannels, planes, stride, previousDilation));
            inChannels = planes * Bottleneck.Expansion;
            for (int b = 1; b < count; b++)
            {
                stage.Add(new Bottleneck(inChannels, planes, 1, dilation));
            }

            stages[s] = RegisterModule("layer" + (s + 1).ToString(CultureInfo.InvariantCulture), stage);
        }

        foreach (var (_, module) in NamedModules())
        {
            if (module is Conv2d conv)
            {
                Init.KaimingNormalFanOut(conv.Weight);
            }
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
    public override Tensor Forward(Tensor input)
    {
        Tensor x;
        using (var c = conv1.Forward(input))
        using (var b = bn1.Forward(c))
        using (var r = b.Relu())
        {
            x = Functional.MaxPool2d(r, 3, 2, 1);
        }

        foreach (var stage in stages)
        {
            Tensor y = stage.Forward(x);
            x.Dispose();
            x = y;
        }

        return x;
    }

    /// <summary>torchvision's Bottleneck: 1x1, 3x3 (stride, dilation), 1x1 x4, each with BN; ReLU after the sum.</summary>
    private sealed class Bottleneck : TensorModule
    {
        public const long Expansion = 4;

        private readonly Conv2d conv1;
        private readonly BatchNorm2d bn1;
        private readonly Conv2d conv2;
        private readonly BatchNorm2d bn2;
        private readonly Conv2d conv3;
        private readonly BatchNorm2d bn3;
        private readonly Sequential? downsample;

        public Bottleneck(long inChannels, long planes, long stride, long dilation)
        {
            conv1 = RegisterModule("conv1", new Conv2d(inChannels, planes, 1, bias: false));
            bn1 = RegisterModule("bn1", new BatchNorm2d(planes));
            conv2 = RegisterModule("conv2", new Conv2d(planes, planes, 3, stride, padding: dilation, dilation: dilation, bias: false));
            bn2 = RegisterModule("bn2", new BatchNorm2d(planes));
            conv3 = RegisterModule("conv3", new Conv2d(planes, planes * Expansion, 1, bias: false));
            bn3 = RegisterModule("bn3", new BatchNorm2d(planes * Expansion));
            if (stride != 1 || inChannels != planes * Expansion)
            {
                downsample = RegisterModule("downsample", new Sequential(
                    new Conv2d(inChannels, planes * Expansion, 1, stride, bias: false),
                    new BatchNorm2d(planes * Expansion)));
            }
        }

        public override Tensor Forward(Tensor input)
        {
            using var c1 = conv1.Forward(input);
            using var b1 = bn1.Forward(c1);
            using var r1 = b1.Relu();
            using var c2 = conv2.Forward(r1);
            using var b2 = bn2.Forward(c2);
            using var r2 = b2.Relu();
            using var c3 = conv3.Forward(r2);
            using var b3 = bn3.Forward(c3);
            using var shortcut = downsample?.Forward(input);
            using var sum = b3 + (shortcut ?? input);
            return sum.Relu();
        }
    }
}
