using TorchSharp;
using TorchSharp.Modules;
using Wsss.Model.Layers;
using Wsss.Onnx;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// RRM's classification branch: Dropout2d -> global average pool -> 1x1 convolution to one logit per
/// class (no bias, Xavier-uniform), whose weights also give the class activation maps. Parameter
/// "weight" (classes, channels, 1, 1).
/// </summary>
public sealed class ClassificationHead : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // state-dict name
    private Parameter weight;
#pragma warning restore IDE1006

    /// <summary>Creates the head.</summary>
    /// <param name="inChannels">Feature channels.</param>
    /// <param name="classes">Foreground classes (no background).</param>
    /// <param name="dropout">Channel dropout rate before pooling, in training mode only. Default 0.5.</param>
    public ClassificationHead(long inChannels, long classes, double dropout = 0.5)
        : base(nameof(ClassificationHead))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        if (!(dropout >= 0 && dropout < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1).");
        }

        Classes = classes;
        Dropout = dropout;
        weight = new Parameter(empty(classes, inChannels, 1, 1));
        Init.XavierUniform(weight);
        RegisterComponents();
    }

    /// <summary>Number of classes.</summary>
    public long Classes { get; }

    /// <summary>Channel dropout rate.</summary>
    public double Dropout { get; }

    /// <summary>The 1x1 classifier (classes, channels, 1, 1).</summary>
    public Parameter Weight => weight;

    /// <summary>Class logits (N, classes) from features (N, channels, h, w); the same as <see cref="Logits"/>.</summary>
    public override Tensor forward(Tensor features) => Logits(features);

    /// <summary>Class logits (N, classes) from features (N, channels, h, w).</summary>
    public Tensor Logits(Tensor features)
    {
        var pooled = nn.functional.adaptive_avg_pool2d(nn.functional.dropout2d(features, Dropout, training), [1, 1]);
        return nn.functional.conv2d(pooled, weight).reshape(features.shape[0], Classes);
    }

    /// <summary>Class activation maps relu(W * features) (N, classes, h, w), on the features without dropout.</summary>
    public Tensor Cam(Tensor features) => nn.functional.relu(nn.functional.conv2d(features, weight));

    /// <summary><see cref="Cam"/> in an ONNX graph.</summary>
    internal string ExportCam(OnnxGraph graph, string features, string name) =>
        graph.Relu(graph.Conv(features, $"{name}.cam", weight, null, 1, [0, 0, 0, 0], 1, 1));
}

/// <summary>
/// RRM's segmentation branch: 3x3 convolution (dilation 12) to 512 channels, ReLU, 3x3 convolution
/// (dilation 12) to classes + 1 (background first); Xavier-uniform weights, zero biases. Children
/// "conv1" and "conv2".
/// </summary>
public sealed class SegmentationHead : nn.Module<Tensor, Tensor>
{
    private const long HiddenChannels = 512;
    private const long Dilation = 12;

    private readonly Conv2d conv1;
    private readonly Conv2d conv2;

    /// <summary>Creates the head.</summary>
    /// <param name="inChannels">Feature channels.</param>
    /// <param name="classesWithBackground">Output channels: foreground classes + 1.</param>
    public SegmentationHead(long inChannels, long classesWithBackground)
        : base(nameof(SegmentationHead))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classesWithBackground, 2);
        conv1 = nn.Conv2d(inChannels, HiddenChannels, 3, padding: Dilation, dilation: Dilation);
        conv2 = nn.Conv2d(HiddenChannels, classesWithBackground, 3, padding: Dilation, dilation: Dilation);
        RegisterComponents();
        using (no_grad())
        {
            foreach (var conv in new[] { conv1, conv2 })
            {
                Init.XavierUniform(conv.weight!);
                conv.bias!.zero_();
            }
        }

        ClassesWithBackground = classesWithBackground;
    }

    /// <summary>Output channels (classes + background).</summary>
    public long ClassesWithBackground { get; }

    /// <summary>Segmentation logits (N, classes + 1, h, w) from features (N, channels, h, w).</summary>
    public override Tensor forward(Tensor input) => conv2.forward(nn.functional.relu(conv1.forward(input)));

    /// <summary><see cref="forward"/> in an ONNX graph.</summary>
    internal string ExportOnnx(OnnxGraph graph, string input, string name) =>
        graph.Conv(graph.Relu(graph.Conv(input, $"{name}.conv1", conv1)), $"{name}.conv2", conv2);
}
