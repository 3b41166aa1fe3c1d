using static TorchSharp.torch;

namespace Wsss.Model.Layers;

/// <summary>Parameter initialisations of the networks here (torch.nn.init's formulas, fans including the kernel area).</summary>
internal static class Init
{
    /// <summary>Xavier/Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).</summary>
    public static void XavierUniform(Tensor weight, double gain = 1.0)
    {
        var (fanIn, fanOut) = Fans(weight);
        double a = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        using (no_grad())
        {
            weight.uniform_(-a, a);
        }
    }

    /// <summary>Kaiming-normal for ReLU networks, fan_out mode (torchvision's ResNet init).</summary>
    public static void KaimingNormalFanOut(Tensor weight)
    {
        var (_, fanOut) = Fans(weight);
        using (no_grad())
        {
            weight.normal_(0, Math.Sqrt(2.0 / fanOut));
        }
    }

    /// <summary>PyTorch's default for convolutions and their biases: U(-b, b), b = 1 / sqrt(fan_in).</summary>
    public static void DefaultUniform(Tensor tensor, double fanIn)
    {
        double bound = 1.0 / Math.Sqrt(fanIn);
        using (no_grad())
        {
            tensor.uniform_(-bound, bound);
        }
    }

    internal static (double FanIn, double FanOut) Fans(Tensor weight)
    {
        long[] s = weight.shape;
        if (s.Length < 2)
        {
            throw new ArgumentException("fans are defined for tensors with at least 2 dimensions", nameof(weight));
        }

        long receptive = 1;
        for (int i = 2; i < s.Length; i++)
        {
            receptive *= s[i];
        }

        return (s[1] * receptive, s[0] * receptive);
    }
}
