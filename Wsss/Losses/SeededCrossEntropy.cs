using TorchSharp;
using Wsss.Engine;
using static TorchSharp.torch;

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
    public static SeededCrossEntropyResult Compute(Tensor segLogits, Tensor labels) => Compute(segLogits, labels, classBalanced: false);

    /// <summary>
    /// <see cref="Compute(Tensor, Tensor)"/>, or with <paramref name="classBalanced"/> a foreground term that averages
    /// the per-class means over the foreground classes with labelled pixels in the batch,
    /// L_fg = (1 / |K|) sum_{c in K} (1 / |F_c|) sum_{(n,i) in F_c} -log softmax(z_ni)[c], K = { c : |F_c| &gt; 0 }, so a
    /// class with few seed pixels weighs as much as one with many. The background term is unchanged. Deviation from
    /// spec section 4 (which pools all foreground pixels) for small datasets where one class dominates the seeds.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes or the label dtype are wrong.</exception>
    public static SeededCrossEntropyResult Compute(Tensor segLogits, Tensor labels, bool classBalanced)
    {
        ArgumentNullException.ThrowIfNull(segLogits);
        ArgumentNullException.ThrowIfNull(labels);
        if (segLogits.dim() != 4)
        {
            throw new ArgumentException($"Seg logits must be (N, C+1, h, w); got ({string.Join(", ", segLogits.shape)}).", nameof(segLogits));
        }

        if (labels.dim() != 3 || labels.shape[0] != segLogits.shape[0])
        {
            throw new ArgumentException($"Labels must be (N, H, W) with N = {segLogits.shape[0]}; got ({string.Join(", ", labels.shape)}).", nameof(labels));
        }

        if (labels.dtype != ScalarType.Int64)
        {
            throw new ArgumentException($"Labels must be Int64 class indices; got {labels.dtype}.", nameof(labels));
        }

        using var scope = NewDisposeScope();
        long height = labels.shape[1], width = labels.shape[2];
        Tensor z = segLogits.shape[2] == height && segLogits.shape[3] == width
            ? segLogits
            : nn.functional.interpolate(segLogits, [height, width], mode: InterpolationMode.Bilinear, align_corners: false);
        Tensor y = labels.device == segLogits.device ? labels : labels.to(segLogits.device);

        Tensor isBackground = y.EqualTo(0);
        Tensor isForeground = y.NotEqualTo(0).logical_and(y.NotEqualTo(Unlabelled));
        Tensor background = Term(z, y.FilledWhere(isBackground.logical_not(), Unlabelled), isBackground);
        Tensor foregroundTarget = y.FilledWhere(isForeground.logical_not(), Unlabelled);
        Tensor foreground = classBalanced
            ? BalancedTerm(z, foregroundTarget, z.shape[1])
            : Term(z, foregroundTarget, isForeground);
        Tensor total = background.Plus(foreground);
        return new SeededCrossEntropyResult(total.MoveToOuterDisposeScope(), background.MoveToOuterDisposeScope(), foreground.MoveToOuterDisposeScope());
    }

    // Per-pixel cross-entropies summed per class with index_add (differentiable), divided by each class's count; the
    // unlabelled pixels go to an extra bin that is dropped. Classes without pixels contribute 0 and are not counted.
    private static Tensor BalancedTerm(Tensor logits, Tensor target, long labelCount)
    {
        using var zero = 0.ToScalar();
        using var one = 1.ToScalar();
        using var unlabelled = Unlabelled.ToScalar();
        using var trash = labelCount.ToScalar();
        Tensor perPixel = nn.functional.cross_entropy(logits, target, ignore_index: Unlabelled, reduction: nn.Reduction.None).reshape(-1);
        Tensor bins = target.reshape(-1).masked_fill(target.reshape(-1).eq(unlabelled), trash);
        Tensor sums = zeros([labelCount + 1], logits.dtype, logits.device).index_add(0, bins, perPixel, one);
        Tensor counts = zeros([labelCount + 1], logits.dtype, logits.device).index_add(0, bins, ones_like(perPixel), one);
        Tensor fg = counts.narrow(0, 1, labelCount - 1);
        Tensor present = fg.gt(zero).to(logits.dtype);
        Tensor means = sums.narrow(0, 1, labelCount - 1).div(fg.clamp_min(one));
        return means.mul(present).sum().div(present.sum().clamp_min(one));
    }

    // A summed cross-entropy over no pixel is exactly 0 and stays in the graph, so dividing by
    // max(count, 1) skips an empty set without NaN and without a host synchronisation.
    private static Tensor Term(Tensor logits, Tensor target, Tensor member)
    {
        Tensor sum = nn.functional.cross_entropy(logits, target, ignore_index: Unlabelled, reduction: nn.Reduction.Sum);
        Tensor count = member.sum().to(logits.dtype).AtLeast(1);
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
