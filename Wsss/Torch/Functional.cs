using Wsss.Interop;

namespace Wsss.Torch;

/// <summary>How a loss combines per-element values.</summary>
public enum Reduction
{
    /// <summary>One value per element.</summary>
    None = 0,

    /// <summary>The mean (over non-ignored elements, weighted when weights are given).</summary>
    Mean = 1,

    /// <summary>The sum.</summary>
    Sum = 2,
}

/// <summary>Resampling used by <see cref="Functional.Interpolate"/>.</summary>
public enum InterpolationMode
{
    /// <summary>Nearest neighbour (PyTorch's legacy 'nearest': floor(dst * in / out)).</summary>
    Nearest = 0,

    /// <summary>Bilinear.</summary>
    Bilinear = 1,
}

/// <summary>Border handling of <see cref="Functional.Pad"/>.</summary>
public enum PadMode
{
    /// <summary>Fill with a constant.</summary>
    Constant = 0,

    /// <summary>Mirror without repeating the edge.</summary>
    Reflect = 1,

    /// <summary>Repeat the edge.</summary>
    Replicate = 2,
}

/// <summary>
/// Network functions with PyTorch's <c>torch.nn.functional</c> semantics (same parameter names and
/// defaults), over NCHW tensors.
/// </summary>
public static class Functional
{
    /// <summary>2-d convolution. <paramref name="weight"/> is (out, in/groups, kh, kw).</summary>
    public static unsafe Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias = null, (long H, long W)? stride = null,
        (long H, long W)? padding = null, (long H, long W)? dilation = null, long groups = 1)
    {
        var s = stride ?? (1, 1);
        var p = padding ?? (0, 0);
        var d = dilation ?? (1, 1);
        long* sp = stackalloc long[] { s.H, s.W };
        long* pp = stackalloc long[] { p.H, p.W };
        long* dp = stackalloc long[] { d.H, d.W };
        using var b = new BorrowedHandle(bias);
        return Tensor.Wrap(NativeMethods.wsss_conv2d(input.Handle, weight.Handle, b.Value, sp, pp, dp, groups, out nint r), r);
    }

    /// <summary>2-d convolution with square stride, padding and dilation.</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long stride, long padding = 0, long dilation = 1, long groups = 1) =>
        Conv2d(input, weight, bias, (stride, stride), (padding, padding), (dilation, dilation), groups);

    /// <summary>
    /// Batch normalisation over (N, C, ...). With <paramref name="training"/> the batch statistics are used
    /// and the running statistics updated in place (when given); otherwise the running statistics are used.
    /// </summary>
    public static Tensor BatchNorm(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight = null, Tensor? bias = null,
        bool training = false, double momentum = 0.1, double eps = 1e-5)
    {
        using var w = new BorrowedHandle(weight);
        using var b = new BorrowedHandle(bias);
        using var m = new BorrowedHandle(runningMean);
        using var v = new BorrowedHandle(runningVar);
        return Tensor.Wrap(NativeMethods.wsss_batch_norm(input.Handle, w.Value, b.Value, m.Value, v.Value, training ? 1 : 0, momentum, eps, out nint r), r);
    }

    /// <summary>max(x, 0).</summary>
    public static Tensor Relu(Tensor input) => input.Relu();

    /// <summary>min(max(x, 0), 6) (MobileNet's activation).</summary>
    public static Tensor Relu6(Tensor input) => Tensor.Wrap(NativeMethods.wsss_unary((int)UnaryOp.Relu6, input.Handle, out nint r), r);

    /// <summary>x for x &gt;= 0, slope * x otherwise.</summary>
    public static Tensor LeakyRelu(Tensor input, double negativeSlope = 0.01) =>
        Tensor.Wrap(NativeMethods.wsss_leaky_relu(input.Handle, negativeSlope, out nint r), r);

    /// <summary>Zeroes elements with probability p and scales the rest by 1/(1-p) when training.</summary>
    public static Tensor Dropout(Tensor input, double p = 0.5, bool training = true) =>
        Tensor.Wrap(NativeMethods.wsss_dropout(input.Handle, p, training ? 1 : 0, 0, out nint r), r);

    /// <summary>Zeroes whole channels of (N, C, H, W) with probability p and scales the rest by 1/(1-p) when training.</summary>
    public static Tensor Dropout2d(Tensor input, double p = 0.5, bool training = true) =>
        Tensor.Wrap(NativeMethods.wsss_dropout(input.Handle, p, training ? 1 : 0, 1, out nint r), r);

    /// <summary>Average pooling to a fixed output size.</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor input, long outputHeight, long outputWidth) =>
        Tensor.Wrap(NativeMethods.wsss_adaptive_avg_pool2d(input.Handle, outputHeight, outputWidth, out nint r), r);

    /// <summary>Max pooling; stride defaults to the kernel size.</summary>
    public static unsafe Tensor MaxPool2d(Tensor input, long kernelSize, long? stride = null, long padding = 0, long dilation = 1, bool ceilMode = false)
    {
        long s = stride ?? kernelSize;
        long* k = stackalloc long[] { kernelSize, kernelSize };
        long* sp = stackalloc long[] { s, s };
        long* p = stackalloc long[] { padding, padding };
        long* d = stackalloc long[] { dilation, dilation };
        return Tensor.Wrap(NativeMethods.wsss_max_pool2d(input.Handle, k, sp, p, d, ceilMode ? 1 : 0, out nint r), r);
    }

    /// <summary>Average pooling; stride defaults to the kernel size.</summary>
    public static unsafe Tensor AvgPool2d(Tensor input, long kernelSize, long? stride = null, long padding = 0, bool ceilMode = false, bool countIncludePad = true)
    {
        long s = stride ?? kernelSize;
        long* k = stackalloc long[] { kernelSize, kernelSize };
        long* sp = stackalloc long[] { s, s };
        long* p = stackalloc long[] { padding, padding };
        return Tensor.Wrap(NativeMethods.wsss_avg_pool2d(input.Handle, k, sp, p, ceilMode ? 1 : 0, countIncludePad ? 1 : 0, out nint r), r);
    }

    /// <summary>
    /// Resizes (N, C, H, W) to (N, C, <paramref name="height"/>, <paramref name="width"/>). For bilinear,
    /// <paramref name="alignCorners"/> false matches PyTorch's default (pixel centres), true aligns the corner pixels.
    /// </summary>
    public static Tensor Interpolate(Tensor input, long height, long width, InterpolationMode mode = InterpolationMode.Nearest, bool alignCorners = false)
    {
        if (mode == InterpolationMode.Nearest && alignCorners)
        {
            throw new ArgumentException("alignCorners applies to bilinear interpolation only (as in PyTorch).", nameof(alignCorners));
        }

        int ac = mode == InterpolationMode.Nearest ? -1 : alignCorners ? 1 : 0;
        return Tensor.Wrap(NativeMethods.wsss_interpolate(input.Handle, height, width, (int)mode, ac, out nint r), r);
    }

    /// <summary>Softmax along <paramref name="dim"/>.</summary>
    public static Tensor Softmax(Tensor input, long dim) => Tensor.Wrap(NativeMethods.wsss_softmax(input.Handle, dim, 0, out nint r), r);

    /// <summary>log(softmax(x)) along <paramref name="dim"/>, computed stably.</summary>
    public static Tensor LogSoftmax(Tensor input, long dim) => Tensor.Wrap(NativeMethods.wsss_softmax(input.Handle, dim, 1, out nint r), r);

    /// <summary>
    /// Cross-entropy between logits (N, C, ...) and class indices (N, ...) of dtype Int64. Targets equal to
    /// <paramref name="ignoreIndex"/> contribute nothing. With <see cref="Reduction.Mean"/> and every target
    /// ignored, the result is NaN, as in PyTorch.
    /// </summary>
    public static Tensor CrossEntropy(Tensor input, Tensor target, Tensor? weight = null, long ignoreIndex = -100, Reduction reduction = Reduction.Mean)
    {
        using var w = new BorrowedHandle(weight);
        return Tensor.Wrap(NativeMethods.wsss_cross_entropy(input.Handle, target.Handle, w.Value, ignoreIndex, (int)reduction, out nint r), r);
    }

    /// <summary>Multi-label one-versus-all loss on logits (N, C) and 0/1 targets (N, C), averaged over classes.</summary>
    public static Tensor MultilabelSoftMarginLoss(Tensor input, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean)
    {
        using var w = new BorrowedHandle(weight);
        return Tensor.Wrap(NativeMethods.wsss_multilabel_soft_margin_loss(input.Handle, target.Handle, w.Value, (int)reduction, out nint r), r);
    }

    /// <summary>Pads the last dimensions; <paramref name="pads"/> lists (left, right, top, bottom, ...) as in PyTorch.</summary>
    public static unsafe Tensor Pad(Tensor input, ReadOnlySpan<long> pads, PadMode mode = PadMode.Constant, double value = 0)
    {
        fixed (long* p = pads)
        {
            return Tensor.Wrap(NativeMethods.wsss_pad(input.Handle, p, pads.Length, (int)mode, value, out nint r), r);
        }
    }
}
