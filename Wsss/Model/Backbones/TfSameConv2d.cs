using Wsss.Torch;
using Wsss.Torch.Nn;

namespace Wsss.Model;

/// <summary>
/// Convolution with TensorFlow's 'same' padding: the output has ceil(in / stride) positions and the
/// padding, when odd, puts the extra row/column at the bottom/right (PyTorch pads symmetrically, which
/// shifts stride-2 outputs by a pixel and breaks imported TensorFlow weights). Parameters "weight"
/// (out, in/groups, k, k) and optional "bias".
/// </summary>
internal sealed class TfSameConv2d : TensorModule
{
    public TfSameConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long dilation = 1, long groups = 1, bool bias = false)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Dilation = dilation;
        Groups = groups;
        // PyTorch's default init, like Conv2d: only trained-from-scratch uses see it.
        double bound = 1.0 / Math.Sqrt(inChannels / groups * kernelSize * kernelSize);
        Weight = RegisterParameter("weight", Torch.Torch.Empty([outChannels, inChannels / groups, kernelSize, kernelSize]).UniformInPlace(-bound, bound));
        Bias = bias ? RegisterParameter("bias", Torch.Torch.Empty([outChannels]).UniformInPlace(-bound, bound)) : null;
    }

    public long InChannels { get; }

    public long OutChannels { get; }

    public long KernelSize { get; }

    public long Stride { get; }

    public long Dilation { get; }

    public long Groups { get; }

    public Tensor Weight { get; }

    public Tensor? Bias { get; }

    /// <summary>TensorFlow's 'same' padding of one dimension: (before, after).</summary>
    internal static (long Before, long After) SamePadding(long size, long kernel, long stride, long dilation)
    {
        long outSize = (size + stride - 1) / stride;
        long total = Math.Max((outSize - 1) * stride + ((kernel - 1) * dilation) + 1 - size, 0);
        return (total / 2, total - (total / 2));
    }

    public override Tensor Forward(Tensor input) => Forward(input, Weight, Bias);

    /// <summary>The same convolution with another weight and bias of this layer's shapes (a folded BatchNorm).</summary>
    internal Tensor Forward(Tensor input, Tensor weight, Tensor? bias)
    {
        var (top, bottom) = SamePadding(input.Size(2), KernelSize, Stride, Dilation);
        var (left, right) = SamePadding(input.Size(3), KernelSize, Stride, Dilation);
        if (top == bottom && left == right)
        {
            // Symmetric: the convolution pads by itself, without materialising a padded copy.
            return Functional.Conv2d(input, weight, bias, (Stride, Stride), (top, left), (Dilation, Dilation), Groups);
        }

        using var padded = Functional.Pad(input, [left, right, top, bottom]);
        return Functional.Conv2d(input: padded, weight, bias, (Stride, Stride), (0, 0), (Dilation, Dilation), Groups);
    }
}
