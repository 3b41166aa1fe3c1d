using Wsss.Torch;

namespace Wsss.Losses;

/// <summary>
/// RRM's seeded cross-entropy (spec section 4), balanced between the background and the foreground
/// pixels of the reliable-region labels:
/// <code>
/// z  = bilinear upsampling (align_corners false) of the seg logits (N, C+1, h, w) to the label size (H, W)
/// B  = { (n, i) : label = 0 },   F = { (n, i) : 1 &lt;= label &lt;= C }   (label 255 = unlabelled)
/// L_bg = (1 / |B|) sum_{(n,i) in B} -log softmax(z_ni)[0]
/// L_fg = (1 / |F|) sum_{(n,i) in F} -log softmax(z_ni)[label_ni]
/// L    = L_bg + L_fg
/// </code>
/// Both sets are pooled over the whole batch. A set with no pixel contributes exactly 0 (with a zero,
/// finite gradient); the reference code, which uses a mean-reduced cross-entropy per set, gives NaN
/// there.
/// </summary>
public static class SeededCrossEntropy
{
    /// <summary>The label of unlabelled pixels.</summary>
    public const long Unlabelled = 255;

    /// <summary>
    /// Computes the loss of <paramref name="segLogits"/> (N, C+1, h, w) against <paramref name="labels"/>
    /// (N, H, W), Int64 with values in {0..C, 255}; the labels are moved to the logits' device.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes or the label dtype are wrong.</exception>
    public static SeededCrossEntropyResult Compute(Tensor segLogits, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(segLogits);
        ArgumentNullException.ThrowIfNull(labels);
        if (segLogits.Dimensions != 4)
        {
            throw new ArgumentException($"Seg logits must be (N, C+1, h, w); got {segLogits}.", nameof(segLogits));
        }

        if (labels.Dimensions != 3 || labels.Size(0) != segLogits.Size(0))
        {
            throw new ArgumentException($"Labels must be (N, H, W) with N = {segLogits.Size(0)}; got {labels}.", nameof(labels));
        }

        if (labels.DType != DType.Int64)
        {
            throw new ArgumentException($"Labels must be Int64 class indices; got {labels.DType}.", nameof(labels));
        }

        using var scope = Torch.Torch.NewDisposeScope();
        long height = labels.Size(1), width = labels.Size(2);
        Tensor z = segLogits.Size(2) == height && segLogits.Size(3) == width
            ? segLogits
            : Functional.Interpolate(segLogits, height, width, InterpolationMode.Bilinear, alignCorners: false);
        Tensor y = labels.Device == segLogits.Device ? labels : labels.To(segLogits.Device);

        Tensor isBackground = y.Eq(0);
        Tensor isForeground = y.Ne(0) & y.Ne(Unlabelled);
        Tensor background = Term(z, y.MaskedFill(!isBackground, Unlabelled), isBackground);
        Tensor foreground = Term(z, y.MaskedFill(!isForeground, Unlabelled), isForeground);
        Tensor total = background + foreground;
        return new SeededCrossEntropyResult(total.MoveToOuterScope(), background.MoveToOuterScope(), foreground.MoveToOuterScope());
    }

    // A summed cross-entropy over no pixel is exactly 0 and stays in the graph, so dividing by
    // max(count, 1) skips an empty set without NaN and without a host synchronisation.
    private static Tensor Term(Tensor logits, Tensor target, Tensor member)
    {
        Tensor sum = Functional.CrossEntropy(logits, target, ignoreIndex: Unlabelled, reduction: Reduction.Sum);
        Tensor count = member.Sum().To(logits.DType).Clamp(min: 1);
        return sum / count;
    }
}

/// <summary>
/// The seeded cross-entropy and its two parts (0-d tensors; <see cref="Total"/> carries the gradient).
/// Disposing the result disposes the three tensors.
/// </summary>
/// <param name="Total">Background term + foreground term.</param>
/// <param name="Background">Mean cross-entropy over the background-labelled pixels (0 when there are none).</param>
/// <param name="Foreground">Mean cross-entropy over the foreground-labelled pixels (0 when there are none).</param>
public sealed record SeededCrossEntropyResult(Tensor Total, Tensor Background, Tensor Foreground) : IDisposable
{
    /// <summary>Disposes the three tensors.</summary>
    public void Dispose()
    {
        Total.Dispose();
        Background.Dispose();
        Foreground.Dispose();
    }
}
