using TorchSharp;
using TorchSharp.Modules;
using Wsss.Model.Layers;
using Wsss.Onnx;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// Convolution with TensorFlow's 'same' padding: the output has ceil(in / stride) positions and the
/// padding, when odd, puts the extra row/column at the bottom/right (PyTorch pads symmetrically, which
/// shifts stride-2 outputs by a pixel and breaks imported TensorFlow weights). Parameters "weight"
/// (out, in/groups, k, k) and optional "bias".
/// </summary>
internal sealed class TfSameConv2d : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // state-dict names
    private Parameter weight;
    private Parameter? bias;
#pragma warning restore IDE1006

    public TfSameConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long dilation = 1, long groups = 1, bool bias = false)
        : base(nameof(TfSameConv2d))
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Dilation = dilation;
        Groups = groups;
        // PyTorch's default init, like Conv2d: only trained-from-scratch uses see it.
        double fanIn = inChannels / groups * kernelSize * kernelSize;
        weight = new Parameter(empty(outChannels, inChannels / groups, kernelSize, kernelSize));
        Init.DefaultUniform(weight, fanIn);
        if (bias)
        {
            this.bias = new Parameter(empty(outChannels));
            Init.DefaultUniform(this.bias, fanIn);
        }

        RegisterComponents();
    }

    public long InChannels { get; }

    public long OutChannels { get; }

    public long KernelSize { get; }

    public long Stride { get; }

    public long Dilation { get; }

    public long Groups { get; }

    public Parameter Weight => weight;

    public Parameter? Bias => bias;

    /// <summary>TensorFlow's 'same' padding of one dimension: (before, after).</summary>
    internal static (long Before, long After) SamePadding(long size, long kernel, long stride, long dilation)
    {
        long outSize = (size + stride - 1) / stride;
        long total = Math.Max(((outSize - 1) * stride) + ((kernel - 1) * dilation) + 1 - size, 0);
        return (total / 2, total - (total / 2));
    }

    public override Tensor forward(Tensor input) => Forward(input, weight, bias);

    /// <summary>
    /// This convolution in an ONNX graph with the given weight and bias (a folded BatchNorm): where the 'same' padding
    /// depends on the input size (stride above 1), a Pad node computes it from the run-time shape, so any height and width
    /// export exactly; otherwise the constant padding goes into the Conv node, or into a constant Pad when asymmetric.
    /// </summary>
    internal string ExportOnnx(OnnxGraph graph, string x, string name, Tensor kernel, Tensor? shift)
    {
        if (Stride > 1)
        {
            return graph.Conv(graph.TfSamePad(x, KernelSize, Stride, Dilation), name, kernel, shift, Stride, [0, 0, 0, 0], Dilation, Groups);
        }

        // Stride 1: the total is (k - 1) * d whatever the size.
        var (before, after) = SamePadding(1, KernelSize, 1, Dilation);
        if (before == after)
        {
            return graph.Conv(x, name, kernel, shift, 1, [before, before, before, before], Dilation, Groups);
        }

        string padded = graph.Node("Pad", [x, graph.Int64s(0, 0, before, before, 0, 0, after, after)], name + "_pad", OnnxGraph.Attribute("mode", "constant"));
        return graph.Conv(padded, name, kernel, shift, 1, [0, 0, 0, 0], Dilation, Groups);
    }

    /// <summary>The same convolution with another weight and bias of this layer's shapes (a folded BatchNorm).</summary>
    internal Tensor Forward(Tensor input, Tensor kernel, Tensor? shift)
    {
        var (top, bottom) = SamePadding(input.shape[2], KernelSize, Stride, Dilation);
        var (left, right) = SamePadding(input.shape[3], KernelSize, Stride, Dilation);
        long[] strides = [Stride, Stride];
        long[] dilation = [Dilation, Dilation];
        if (top == bottom && left == right)
        {
            if (top == left && DilatedDepthwiseConv2d.Applies(input, kernel, Stride, Dilation, Groups, top))
            {
                // MobileNetV1's dilated depthwise layers: libtorch's weight gradient of these is slow.
                return DilatedDepthwiseConv2d.Forward(input, kernel, shift, Dilation, top);
            }

            // Symmetric: the convolution pads by itself, without materialising a padded copy.
            return nn.functional.conv2d(input, kernel, shift, strides, [top, left], dilation, Groups);
        }

        using var padded = nn.functional.pad(input, [left, right, top, bottom]);
        return nn.functional.conv2d(padded, kernel, shift, strides, [0, 0], dilation, Groups);
    }
}
