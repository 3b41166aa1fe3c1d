using Wsss.Torch;
using Wsss.Torch.Nn;

namespace Wsss.Model;

/// <summary>
/// RRM's classification branch: Dropout2d -> global average pool -> 1x1 convolution to one logit per
/// class (no bias, Xavier-uniform), whose weights also give the class activation maps. Parameter
/// "weight" (classes, channels, 1, 1).
/// </summary>
public sealed class ClassificationHead : Module
{
    /// <summary>Creates the head.</summary>
    /// <param name="inChannels">Feature channels.</param>
    /// <param name="classes">Foreground classes (no background).</param>
    /// <param name="dropout">Channel dropout rate before pooling, in training mode only. Default 0.5.</param>
    public ClassificationHead(long inChannels, long classes, double dropout = 0.5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        if (!(dropout >= 0 && dropout < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1).");
        }

        Classes = classes;
        Dropout = dropout;
        Weight = RegisterParameter("weight", Torch.Torch.Empty([classes, inChannels, 1, 1]));
        Init.XavierUniform(Weight);
    }

    /// <summary>Number of classes.</summary>
    public long Classes { get; }

    /// <summary>Channel dropout rate.</summary>
    public double Dropout { get; }

    /// <summary>The 1x1 classifier (classes, channels, 1, 1).</summary>
    public Tensor Weight { get; }

    /// <summary>Class logits (N, classes) from features (N, channels, h, w).</summary>
    public Tensor Logits(Tensor features)
    {
        using var dropped = Functional.Dropout2d(features, Dropout, IsTraining);
        using var pooled = Functional.AdaptiveAvgPool2d(dropped, 1, 1);
        using var logits = Functional.Conv2d(pooled, Weight);
        return logits.Reshape(logits.Size(0), Classes);
    }

    /// <summary>Class activation maps relu(W * features) (N, classes, h, w), on the features without dropout.</summary>
    public Tensor Cam(Tensor features)
    {
        using var scores = Functional.Conv2d(features, Weight);
        return scores.Relu();
    }
}

/// <summary>
/// RRM's segmentation branch: 3x3 convolution (dilation 12) to 512 channels, ReLU, 3x3 convolution
/// (dilation 12) to classes + 1 (background first); Xavier-uniform weights, zero biases. Children
/// "conv1" and "conv2".
/// </summary>
public sealed class SegmentationHead : TensorModule
{
    private const long HiddenChannels = 512;
    private const long Dilation = 12;

    private readonly Conv2d conv1;
    private readonly Conv2d conv2;

    /// <summary>Creates the head.</summary>
    /// <param name="inChannels">Feature channels.</param>
    /// <param name="classesWithBackground">Output channels: foreground classes + 1.</param>
    public SegmentationHead(long inChannels, long classesWithBackground)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classesWithBackground, 2);
        conv1 = RegisterModule("conv1", new Conv2d(inChannels, HiddenChannels, 3, padding: Dilation, dilation: Dilation));
        conv2 = RegisterModule("conv2", new Conv2d(HiddenChannels, classesWithBackground, 3, padding: Dilation, dilation: Dilation));
        using var noGrad = Torch.Torch.NoGrad();
        foreach (var conv in new[] { conv1, conv2 })
        {
            Init.XavierUniform(conv.Weight);
            conv.Bias!.Zero();
        }
    }

    /// <summary>Output channels (classes + background).</summary>
    public long ClassesWithBackground => conv2.OutChannels;

    /// <summary>Segmentation logits (N, classes + 1, h, w) from features (N, channels, h, w).</summary>
    public override Tensor Forward(Tensor input)
    {
        using var hidden = conv1.Forward(input);
        using var activated = hidden.Relu();
        return conv2.Forward(activated);
    }
}
