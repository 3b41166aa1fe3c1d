using Wsss.Torch;

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
        if (logits.Dimensions != 2 || !logits.Shape.SequenceEqual(targets.Shape))
        {
            throw new ArgumentException(
                $"Classification logits and targets must both be (N, C) and equal; got {logits} and {targets}.", nameof(targets));
        }

        using var scope = Torch.Torch.NewDisposeScope();
        Tensor y = targets.DType == logits.DType && targets.Device == logits.Device ? targets : targets.To(logits.DType, logits.Device);
        return Functional.MultilabelSoftMarginLoss(logits, y).MoveToOuterScope();
    }
}
