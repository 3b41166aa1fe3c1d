using TorchSharp;
using Wsss.Imaging;
using Wsss.Seeds;
using Wsss.Engine;
using static TorchSharp.torch;

namespace Wsss.Losses;

/// <summary>
/// RRM's gated dense energy loss (spec section 4; the DenseCRF loss of Tang et al., "On regularized
/// losses for weakly-supervised CNN segmentation", ECCV 2018, with RRM's gate).
/// </summary>
/// <remarks>
/// <para>Definition, at the working resolution h = floor(H s), w = floor(W s) (s = <see cref="DenseEnergyLossOptions.Scale"/>):</para>
/// <code>
/// P        = softmax probabilities (N, K, H, W) downscaled: for s = 0.5 the 2x2 mean over the top-left
///            2h x 2w pixels (what bilinear with scale_factor 0.5 and align_corners false computes, the
///            source coordinate being exactly 2 x + 0.5; for an odd size the last row/column is dropped,
///            as PyTorch's floor output size does); for s = 1 P itself; otherwise bilinear to (h, w)
/// image, labels, crop mask: nearest, the source pixel of (y, x) being (floor(y / s), floor(x / s))
/// S_k(i)   = P_k(i) crop(i)
/// Gate(i)  = 1 where label(i) = 255, else max(0, crop(i) - max_k P_k(i))   (1 - max_k P_k inside the crop)
/// (W v)(i) = c sum_j exp(-|f_i - f_j|^2 / 2) v(j),  f = (x / sxy', y / sxy', R / srgb, G / srgb, B / srgb),
///            sxy' = Sxy s, self term included, computed by the permutohedral lattice,
///            c = LatticeScaleCompensation
/// L        = -(weight / N) sum_{n,k,i} Gate(i) S_k(i) (W S_k)(i)        (N = batch size)
/// </code>
/// <para>Gradient. Both modes assume a symmetric W. The exact Gaussian is; the lattice only nearly: its
/// splat and slice are transposes and each blur pass is symmetric, but the passes run in one fixed order
/// (measured on a tiny noisy 6x5 image: |M - M^T| / |M| = 0.08, giving a 6 % error of the Exact gradient
/// against the lattice-defined loss, versus 44 % for the Reference gradient).
/// <see cref="EnergyGradient.Reference"/>: <c>dL/dS = -2 (weight / N) Gate (W S)</c>, the gate taken as
/// constant, realised by the surrogate <c>sum S * sg(-2 (weight/N) Gate W S)</c> (sg = stop-gradient).
/// <see cref="EnergyGradient.Exact"/>: with <c>E = sum Gate S (W S)</c>,
/// <c>dE/dS_k = Gate (W S_k) + W (Gate S_k)</c> and <c>dE/dGate = sum_k S_k (W S_k)</c>, through
/// <c>dGate/dP_k = -crop</c> at the arg-max class where the gate is unclipped and labelled (ties share
/// the gradient, as libtorch's amax does). It is realised by the surrogate
/// <c>T = sum Gate S sg(W S) + sum S sg(W (sg(Gate) S))</c> (with Gate keeping its graph), whose gradient
/// is exactly dE; W (Gate S) costs K more filtered channels in the same lattice pass. In both modes the
/// returned value is the true L (surrogate - sg(surrogate) + L).</para>
/// <para>The filtering runs on the CPU in float32 (S is copied from and W S back to the probabilities'
/// device); images of the batch are filtered in parallel. An instance keeps its lattices and buffers
/// between calls and serialises calls on itself.</para>
/// </remarks>
public sealed class DenseEnergyLoss : IDisposable
{
    private readonly IEnergyFilter filter;
    private readonly Lock gate = new();
    private byte[] imageBuffer = [];
    private float[] inputBuffer = [];
    private float[] outputBuffer = [];

    /// <summary>Creates the loss with the given options (the defaults when null).</summary>
    public DenseEnergyLoss(DenseEnergyLossOptions? options = null)
        : this(options, null)
    {
    }

    internal DenseEnergyLoss(DenseEnergyLossOptions? options, IEnergyFilter? customFilter)
    {
        Options = options ?? new DenseEnergyLossOptions();
        Options.Validate();
        filter = customFilter ?? new LatticeEnergyFilter(Options.Threads);
    }

    /// <summary>The settings (validated at construction).</summary>
    public DenseEnergyLossOptions Options { get; }

    /// <summary>
    /// The loss (a 0-d tensor of the probabilities' dtype and device) for a batch.
    /// </summary>
    /// <param name="probabilities">Softmax probabilities (N, K, H, W), float; gradients flow back into it.</param>
    /// <param name="imagesHwc">The uint8 RGB crops, N x H x W x 3 bytes.</param>
    /// <param name="labels">Reliable-region labels (N, H, W), integer, 255 = unlabelled.</param>
    /// <param name="cropMask">1 on real pixels, 0 on padding (N, H, W), any numeric or Bool dtype; null means all real.</param>
    /// <exception cref="ArgumentException">Shapes, dtypes or the image buffer length do not fit.</exception>
    public Tensor Forward(Tensor probabilities, ReadOnlySpan<byte> imagesHwc, Tensor labels, Tensor? cropMask = null)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(labels);
        Check(probabilities, imagesHwc.Length, labels, cropMask);
        lock (gate)
        {
            using var scope = NewDisposeScope();
            return Compute(probabilities, imagesHwc, labels, cropMask).MoveToOuterDisposeScope();
        }
    }

    /// <summary>As <see cref="Forward(Tensor, ReadOnlySpan{byte}, Tensor, Tensor?)"/>, with one image per batch entry.</summary>
    public Tensor Forward(Tensor probabilities, IReadOnlyList<RgbImage> images, Tensor labels, Tensor? cropMask = null)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(images);
        if (probabilities.dim() != 4 || images.Count != probabilities.shape[0])
        {
            throw new ArgumentException($"Expected one image per batch entry of probabilities ({string.Join(", ", probabilities.shape)}); got {images.Count}.", nameof(images));
        }

        long h = probabilities.shape[2], w = probabilities.shape[3];
        var all = new byte[checked(images.Count * h * w * 3)];
        for (int n = 0; n < images.Count; n++)
        {
            RgbImage img = images[n];
            if (img.Height != h || img.Width != w)
            {
                throw new ArgumentException($"Image {n} is {img.Height}x{img.Width}, the probabilities are {h}x{w}.", nameof(images));
            }

            img.Pixels.CopyTo(all, n * h * w * 3);
        }

        return Forward(probabilities, all, labels, cropMask);
    }

    /// <summary>Releases the lattices.</summary>
    public void Dispose() => filter.Dispose();

    private static void Check(Tensor p, int imageBytes, Tensor labels, Tensor? crop)
    {
        if (p.dim() != 4 || !p.is_floating_point())
        {
            throw new ArgumentException($"Probabilities must be a float (N, K, H, W) tensor; got {Describe(p)}.", nameof(p));
        }

        long n = p.shape[0], h = p.shape[2], w = p.shape[3];
        if (labels.dim() != 3 || labels.shape[0] != n || labels.shape[1] != h || labels.shape[2] != w)
        {
            throw new ArgumentException($"Labels must be (N, H, W) = ({n}, {h}, {w}); got {Describe(labels)}.", nameof(labels));
        }

        if (labels.is_floating_point() || labels.dtype == ScalarType.Bool)
        {
            throw new ArgumentException($"Labels must hold integer class indices; got {labels.dtype}.", nameof(labels));
        }

        if (crop is not null && (crop.dim() != 3 || crop.shape[0] != n || crop.shape[1] != h || crop.shape[2] != w))
        {
            throw new ArgumentException($"The crop mask must be (N, H, W) = ({n}, {h}, {w}); got {Describe(crop)}.", nameof(crop));
        }

        if (imageBytes != n * h * w * 3)
        {
            throw new ArgumentException($"The images must be N x H x W x 3 = {n * h * w * 3} bytes; got {imageBytes}.", "imagesHwc");
        }
    }

    private static string Describe(Tensor t) => $"{t.dtype} ({string.Join(", ", t.shape)})";

    private Tensor Compute(Tensor probabilities, ReadOnlySpan<byte> imagesHwc, Tensor labels, Tensor? cropMask)
    {
        DenseEnergyLossOptions o = Options;
        int n = (int)probabilities.shape[0], k = (int)probabilities.shape[1];
        int fullH = (int)probabilities.shape[2], fullW = (int)probabilities.shape[3];
        double s = o.Scale;
        int h = Math.Max(1, (int)Math.Floor(fullH * s)), w = Math.Max(1, (int)Math.Floor(fullW * s));
        long[] rows = SourceIndices(h, fullH, s), cols = SourceIndices(w, fullW, s);
        ScalarType dtype = probabilities.dtype;
        Device device = probabilities.device;
        bool exact = o.Gradient == EnergyGradient.Exact;
        bool needGrad = probabilities.requires_grad && is_grad_enabled();

        Tensor ph = Downscale(probabilities, h, w, s);
        Tensor roi = cropMask is null
            ? ones([n, 1, h, w], dtype, device)
            : Nearest(cropMask, rows, cols).to(dtype, device).unsqueeze(1);
        Tensor unlabelled = Nearest(labels, rows, cols).to(device).EqualTo(SeededCrossEntropy.Unlabelled).unsqueeze(1);

        Tensor pForGate = exact && needGrad ? ph : ph.detach();
        Tensor gateMap = (roi - pForGate.amax([1], keepdim: true)).AtLeast(0).FilledWhere(unlabelled, 1.0);
        Tensor gateValue = gateMap.detach();
        Tensor seg = ph * roi;
        Tensor segValue = seg.detach();

        // Exact mode filters [S, Gate S] together: one lattice build per image for both.
        Tensor filterInput = exact && needGrad ? cat([segValue, gateValue * segValue], 1) : segValue;
        int channels = (int)filterInput.shape[1];
        Tensor filtered = FilterOnCpu(filterInput, imagesHwc, n, fullH, fullW, rows, cols, h, w, channels)
            .to(dtype, device).Times(o.LatticeScaleCompensation);
        Tensor ws = channels == k ? filtered : filtered.narrow(1, 0, k);

        double coefficient = -o.Weight / n;
        Tensor value = (gateValue * segValue * ws).sum().Times(coefficient);
        if (!needGrad)
        {
            return value;
        }

        Tensor surrogate = exact
            ? (gateMap * seg * ws).sum().Plus((seg * filtered.narrow(1, k, k)).sum())
            : (seg * (gateValue * ws)).sum().Times(2.0);
        return (surrogate - surrogate.detach()).Times(coefficient).Plus(value);
    }

    private static long[] SourceIndices(int outSize, int inSize, double scale)
    {
        var idx = new long[outSize];
        for (int i = 0; i < outSize; i++)
        {
            idx[i] = Math.Min(inSize - 1, (long)Math.Floor(i / scale));
        }

        return idx;
    }

    private static Tensor Downscale(Tensor p, int h, int w, double s)
    {
        if (s == 1.0)
        {
            return p;
        }

        // Bilinear with scale_factor 0.5 samples x_src = 2 x + 0.5: the mean of each 2x2 block.
        return s == 0.5
            ? nn.functional.avg_pool2d(p, [2, 2])
            : nn.functional.interpolate(p, [h, w], mode: InterpolationMode.Bilinear, align_corners: false);
    }

    private static Tensor Nearest(Tensor map, long[] rows, long[] cols)
    {
        Device d = map.device;
        Tensor r = tensor(rows, device: d);
        Tensor c = tensor(cols, device: d);
        return map.index_select(1, r).index_select(2, c);
    }

    private Tensor FilterOnCpu(
        Tensor input, ReadOnlySpan<byte> imagesHwc, int n, int fullH, int fullW, long[] rows, long[] cols, int h, int w, int channels)
    {
        int imageBytes = checked(n * h * w * 3);
        int values = checked(n * channels * h * w);
        if (imageBuffer.Length < imageBytes)
        {
            imageBuffer = new byte[imageBytes];
        }

        if (inputBuffer.Length < values)
        {
            inputBuffer = new float[values];
            outputBuffer = new float[values];
        }

        for (int b = 0; b < n; b++)
        {
            for (int y = 0; y < h; y++)
            {
                int src = (int)((((long)b * fullH) + rows[y]) * fullW * 3);
                int dst = ((b * h) + y) * w * 3;
                for (int x = 0; x < w; x++)
                {
                    int from = src + ((int)cols[x] * 3);
                    imageBuffer[dst] = imagesHwc[from];
                    imageBuffer[dst + 1] = imagesHwc[from + 1];
                    imageBuffer[dst + 2] = imagesHwc[from + 2];
                    dst += 3;
                }
            }
        }

        Span<float> inSpan = inputBuffer.AsSpan(0, values);
        input.to(ScalarType.Float32, CPU).CopyToSpan<float>(inSpan);
        Span<float> outSpan = outputBuffer.AsSpan(0, values);
        filter.Filter(imageBuffer.AsSpan(0, imageBytes), n, h, w, inSpan, channels, (float)(Options.Sxy * Options.Scale), Options.Srgb, outSpan);
        Tensor result = empty([n, channels, h, w]);
        result.CopyFromSpan<float>(outSpan);
        return result;
    }
}

/// <summary>The bilateral filtering behind <see cref="DenseEnergyLoss"/> (replaceable in tests).</summary>
internal interface IEnergyFilter : IDisposable
{
    /// <summary>Filters count x channels x height x width values by the bilateral features of count x height x width x 3 bytes.</summary>
    void Filter(ReadOnlySpan<byte> imagesHwc, int count, int height, int width, ReadOnlySpan<float> input, int channels,
        float sxy, float srgb, Span<float> output);
}

/// <summary>The permutohedral-lattice filter (the reference's algorithm), images in parallel.</summary>
internal sealed class LatticeEnergyFilter(int threads) : IEnergyFilter
{
    private readonly BilateralFilterBatch batch = new(threads);

    public void Filter(ReadOnlySpan<byte> imagesHwc, int count, int height, int width, ReadOnlySpan<float> input, int channels,
        float sxy, float srgb, Span<float> output) =>
        batch.Filter(imagesHwc, count, height, width, input, channels, sxy, srgb, output);

    public void Dispose() => batch.Dispose();
}
