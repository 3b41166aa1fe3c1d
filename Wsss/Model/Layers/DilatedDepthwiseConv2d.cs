using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using Wsss.Engine;
using static TorchSharp.torch;

namespace Wsss.Model.Layers;

/// <summary>
/// A dilated depthwise 3x3-style convolution (stride 1, 'same' padding) whose backward computes the weight
/// gradient in managed SIMD code. libtorch 2.10 no longer runs these convolutions on oneDNN's reference path, but
/// its weight gradient still cost 8.8 ms of the 9.9 ms forward + backward of MobileNetV1's conv_dw_7..12
/// (4 x 384 x 41 x 41, dilation 2) and 27 of the 29 ms of conv_dw_13 (768 channels, dilation 4), where an
/// undilated one takes 2.8 ms in all; those seven layers made the whole backward about 90 ms slower than the
/// previous engine's. The input gradient is libtorch's own fast forward convolution with the flipped kernel.
/// Same mathematics as libtorch's; the gradients are tested against it.
/// </summary>
internal static class DilatedDepthwiseConv2d
{
    /// <summary>
    /// Whether <see cref="Forward"/> applies: a CPU float32 depthwise convolution (one filter per channel) with
    /// stride 1, dilation above 1 and symmetric 'same' padding, while gradients are recorded.
    /// </summary>
    public static bool Applies(Tensor input, Tensor weight, long stride, long dilation, long groups, long padding)
    {
        long k = weight.shape[2];
        return dilation > 1 && stride == 1 && is_grad_enabled() && (input.requires_grad || weight.requires_grad)
            && input.device_type == DeviceType.CPU && input.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32
            && input.dim() == 4 && groups == input.shape[1] && weight.shape[0] == groups && weight.shape[1] == 1
            && k == weight.shape[3] && k % 2 == 1 && padding == dilation * (k - 1) / 2;
    }

    /// <summary>conv2d(input, weight, bias, stride 1, padding, dilation, groups = channels), with the managed weight gradient.</summary>
    public static Tensor Forward(Tensor input, Tensor weight, Tensor? bias, long dilation, long padding) =>
        Function.apply(input, weight, bias!, dilation, padding);

    /// <summary>
    /// dL/dw[c, ky, kx] = sum over n, y, x of g[n, c, y, x] * in[n, c, y + ky d - p, x + kx d - p] (zero outside),
    /// with both tensors read in channels-last order so that the channels are the vector lanes.
    /// </summary>
    internal static Tensor WeightGradient(Tensor input, Tensor gradOutput, long kernel, long dilation, long padding)
    {
        long n = input.shape[0], c = input.shape[1], h = input.shape[2], w = input.shape[3];
        // A channels-last tensor permuted to NHWC is already contiguous: no copy for the network's activations.
        using var x = input.detach().permute(0, 2, 3, 1).contiguous();
        using var g = gradOutput.permute(0, 2, 3, 1).contiguous();
        int threads = Math.Max(1, Math.Min(torch.get_num_threads(), (int)(n * h)));
        int taps = (int)(kernel * kernel), channels = (int)c;
        var partial = new float[threads][];
        ReadOnlySpan<byte> xBytes = x.bytes;
        ReadOnlySpan<byte> gBytes = g.bytes;
        unsafe
        {
            fixed (byte* xp = xBytes, gp = gBytes)
            {
                var xPtr = (nint)xp;
                var gPtr = (nint)gp;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    var acc = new float[taps * channels];
                    long rows = n * h, begin = rows * t / threads, end = rows * (t + 1) / threads;
                    var xs = new ReadOnlySpan<float>((void*)xPtr, (int)(n * h * w * c));
                    var gs = new ReadOnlySpan<float>((void*)gPtr, (int)(n * h * w * c));
                    for (long row = begin; row < end; row++)
                    {
                        long b = row / h, y = row % h;
                        ReadOnlySpan<float> gRow = gs.Slice((int)(((b * h) + y) * w * c), (int)(w * c));
                        for (int ky = 0; ky < kernel; ky++)
                        {
                            long sy = y + (ky * dilation) - padding;
                            if (sy < 0 || sy >= h)
                            {
                                continue;
                            }

                            ReadOnlySpan<float> xRow = xs.Slice((int)(((b * h) + sy) * w * c), (int)(w * c));
                            for (int kx = 0; kx < kernel; kx++)
                            {
                                long offset = (kx * dilation) - padding;
                                long x0 = Math.Max(0, -offset), x1 = Math.Min(w, w - offset);
                                Span<float> a = acc.AsSpan(((ky * (int)kernel) + kx) * channels, channels);
                                for (long xx = x0; xx < x1; xx++)
                                {
                                    MultiplyAdd(a, gRow.Slice((int)(xx * c), channels), xRow.Slice((int)((xx + offset) * c), channels));
                                }
                            }
                        }
                    }

                    partial[t] = acc;
                });
            }
        }

        // Sum the per-thread partial sums in double, then lay them out as the weight (C, 1, k, k).
        var result = new float[channels * taps];
        for (int ch = 0; ch < channels; ch++)
        {
            for (int tap = 0; tap < taps; tap++)
            {
                double sum = 0;
                foreach (float[] p in partial)
                {
                    sum += p[(tap * channels) + ch];
                }

                result[(ch * taps) + tap] = (float)sum;
            }
        }

        return tensor(result, [c, 1, kernel, kernel]);
    }

    private static void MultiplyAdd(Span<float> acc, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float accRef = ref MemoryMarshal.GetReference(acc);
            ref float aRef = ref MemoryMarshal.GetReference(a);
            ref float bRef = ref MemoryMarshal.GetReference(b);
            for (; i + Vector256<float>.Count <= acc.Length; i += Vector256<float>.Count)
            {
                var sum = Vector256.LoadUnsafe(ref accRef, (nuint)i) + (Vector256.LoadUnsafe(ref aRef, (nuint)i) * Vector256.LoadUnsafe(ref bRef, (nuint)i));
                sum.StoreUnsafe(ref accRef, (nuint)i);
            }
        }

        for (; i < acc.Length; i++)
        {
            acc[i] += a[i] * b[i];
        }
    }

    /// <summary>The autograd function: forward is libtorch's convolution, backward the two gradients above.</summary>
    private sealed class Function : torch.autograd.SingleTensorFunction<Function>
    {
        public override string Name => nameof(DilatedDepthwiseConv2d);

        public override Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
        {
            var input = (Tensor)vars[0];
            var weight = (Tensor)vars[1];
            var bias = vars[2] as Tensor;
            long dilation = (long)vars[3], padding = (long)vars[4];
            ctx.save_for_backward([input, weight]);
            ctx.save_data("dilation", dilation);
            ctx.save_data("padding", padding);
            ctx.save_data("bias", bias is not null);
            return nn.functional.conv2d(input, weight, bias, [1, 1], [padding, padding], [dilation, dilation], input.shape[1]);
        }

        public override List<Tensor> backward(torch.autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            Tensor input = saved[0], weight = saved[1];
            long dilation = (long)ctx.get_data("dilation"), padding = (long)ctx.get_data("padding");
            bool hasBias = (bool)ctx.get_data("bias");
            long channels = input.shape[1];
            // A depthwise convolution with stride 1 is its own transpose up to the kernel flip.
            Tensor gradInput = nn.functional.conv2d(gradOutput, weight.flip(2, 3), null, [1, 1], [padding, padding], [dilation, dilation], channels);
            Tensor gradWeight = WeightGradient(input, gradOutput, weight.shape[2], dilation, padding);
            Tensor? gradBias = hasBias ? gradOutput.sum([0, 2, 3]) : null;
            return [gradInput, gradWeight, gradBias!, null!, null!];
        }
    }
}
