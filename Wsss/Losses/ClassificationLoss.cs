using TorchSharp;
using static TorchSharp.torch;

namespace Wsss.Losses;

/// <summary>
/// RRM's classification loss (spec section 4): the multi-label soft margin loss on the scale-1 class
/// logits,
/// <c>L = -(1 / (N C)) sum_{n,c} [ y_nc log sigmoid(x_nc) + (1 - y_nc) log sigmoid(-x_nc) ]</c>,
/// with logits x (N, C) and multi-hot targets y (N, C).
/// </summary>
public static class ClassificationLoss
{
    /// <summary>
    /// The loss (a 0-d tensor) of <paramref name="logits"/> (N, C) against the multi-hot
    /// <paramref name="targets"/> (N, C; any numeric dtype, moved to the logits' device and dtype).
    /// </summary>
    /// <exception cref="ArgumentException">The shapes are not both (N, C) and equal.</exception>
    public static Tensor Compute(Tensor logits, Tensor targets)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        if (logits.dim() != 2 || !logits.shape.SequenceEqual(targets.shape))
        {
            throw new ArgumentException(
                $"Classification logits and targets must both be (N, C) and equal; got ({string.Join(", ", logits.shape)}) and ({string.Join(", ", targets.shape)}).", nameof(targets));
        }

        using var scope = NewDisposeScope();
        Tensor y = targets.dtype == logits.dtype && targets.device == logits.device ? targets : targets.to(logits.dtype, logits.device);
        return nn.functional.multilabel_soft_margin_loss(logits, y).MoveToOuterDisposeScope();
    }
}
