using Wsss.Torch;
using Wsss.Torch.Nn;

namespace Wsss.Model;

/// <summary>
/// A small CNN for synthetic data, tests and quick experiments, meant to train from scratch on a CPU:
/// four 3x3 convolution blocks with BatchNorm and ReLU ("block1".."block4", each a Sequential of conv
/// and BN): 3->32 (stride 2), 32->64 (stride 2), 64->128 (stride 2), 128->128 (dilation 2), so the
/// output stride is 8 with 128 channels. Input: ImageNet mean/std normalisation.
/// </summary>
public sealed class SmallCnn : Backbone
{
    private readonly Sequential[] blocks;

    /// <summary>Creates the network with Kaiming-normal convolutions.</summary>
    /// <param name="frozenBatchNorm">Freeze BatchNorm; default false, since a network trained from scratch
    /// needs its batch statistics (freezing them leaves BatchNorm an identity map).</param>
    public SmallCnn(bool frozenBatchNorm = false)
    {
        const long width = 32;
        (long In, long Out, long Stride, long Dilation)[] config =
        [
            (3, width, 2, 1),
            (width, 2 * width, 2, 1),
            (2 * width, 4 * width, 2, 1),
            (4 * width, 4 * width, 1, 2),
        ];
        blocks = new Sequential[config.Length];
        for (int i = 0; i < config.Length; i++)
        {
            var (inChannels, outChannels, stride, dilation) = config[i];
            var conv = new Conv2d(inChannels, outChannels, 3, stride, padding: dilation, dilation: dilation, bias: false);
            Init.KaimingNormalFanOut(conv.Weight);
            blocks[i] = RegisterModule($"block{i + 1}", new Sequential(conv, new BatchNorm2d(outChannels)));
        }

        OutputChannels = 4 * width;
        FrozenBatchNorm = frozenBatchNorm;
    }

    /// <inheritdoc/>
    public override BackboneKind Kind => BackboneKind.SmallCnn;

    /// <inheritdoc/>
    public override long OutputChannels { get; }

    /// <inheritdoc/>
    public override InputNormalization Normalization => InputNormalization.ImageNet;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        Tensor x = input;
        foreach (var block in blocks)
        {
            using var normalised = block.Forward(x);
            Tensor y = normalised.Relu();
            if (!ReferenceEquals(x, input))
            {
                x.Dispose();
            }

            x = y;
        }

        return x;
    }
}
