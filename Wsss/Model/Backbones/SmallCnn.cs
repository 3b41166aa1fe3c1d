using TorchSharp;
using TorchSharp.Modules;
using Wsss.Model.Layers;
using Wsss.Onnx;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// A small CNN for synthetic data, tests and quick experiments, meant to train from scratch on a CPU:
/// four 3x3 convolution blocks with BatchNorm and ReLU ("block1".."block4", each a Sequential of conv
/// and BN): 3->32 (stride 2), 32->64 (stride 2), 64->128 (stride 2), 128->128 (dilation 2), so the
/// output stride is 8 with 128 channels. Input: ImageNet mean/std normalisation.
/// </summary>
public sealed class SmallCnn : Backbone, IOnnxExportable
{
    private readonly Sequential block1;
    private readonly Sequential block2;
    private readonly Sequential block3;
    private readonly Sequential block4;

    /// <summary>Creates the network with Kaiming-normal convolutions.</summary>
    /// <param name="frozenBatchNorm">Freeze BatchNorm; default false, since a network trained from scratch
    /// needs its batch statistics (freezing them leaves BatchNorm an identity map).</param>
    public SmallCnn(bool frozenBatchNorm = false)
        : base(nameof(SmallCnn))
    {
        const long width = 32;
        block1 = Block(3, width, 2, 1);
        block2 = Block(width, 2 * width, 2, 1);
        block3 = Block(2 * width, 4 * width, 2, 1);
        block4 = Block(4 * width, 4 * width, 1, 2);
        RegisterComponents();
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
    public override Tensor forward(Tensor input)
    {
        Tensor x = input;
        foreach (var block in new[] { block1, block2, block3, block4 })
        {
            x = nn.functional.relu(block.forward(x));
        }

        return x;
    }

    /// <summary>Each block's convolution with its BatchNorm (evaluation mode) folded in, then ReLU.</summary>
    string IOnnxExportable.ExportOnnx(OnnxGraph graph, string input, string name)
    {
        string x = input;
        foreach (var (block, blockName) in new[] { (block1, "block1"), (block2, "block2"), (block3, "block3"), (block4, "block4") })
        {
            var parts = block.children().ToArray();
            x = graph.Relu(graph.Conv(x, $"{name}.{blockName}.0", (Conv2d)parts[0], (FreezableBatchNorm2d)parts[1]));
        }

        return x;
    }

    private static Sequential Block(long inChannels, long outChannels, long stride, long dilation)
    {
        var conv = nn.Conv2d(inChannels, outChannels, 3, stride, padding: dilation, dilation: dilation, bias: false);
        Init.KaimingNormalFanOut(conv.weight!);
        return nn.Sequential(conv, new FreezableBatchNorm2d(outChannels));
    }
}
