using TorchSharp;
using TorchSharp.Modules;
using Wsss.Engine;
using static TorchSharp.torch;

namespace Wsss.Model.Layers;

/// <summary>
/// Batch normalisation over channels that can be frozen, as RRM trains its backbone: state-dict names are
/// PyTorch's ("weight", "bias", buffers "running_mean", "running_var", "num_batches_tracked"), so torchvision
/// and converted checkpoints load unchanged. When <see cref="Frozen"/>, it normalises with its running
/// statistics in both modes, never updates them, and its affine parameters get no gradient (torchvision's
/// FrozenBatchNorm2d, switchable because a network trained from scratch needs trainable BatchNorm).
/// </summary>
public sealed class FreezableBatchNorm2d : nn.Module<Tensor, Tensor>
{
    // Field names are the state-dict keys (TorchSharp registers fields by name and re-points them on .to()).
#pragma warning disable IDE1006 // PyTorch's names on purpose
    private Parameter weight;
    private Parameter bias;
    private Tensor running_mean;
    private Tensor running_var;
    private Tensor num_batches_tracked;
#pragma warning restore IDE1006
    private bool frozen;

    /// <summary>Creates the layer: weight 1, bias 0, running mean 0, running variance 1.</summary>
    /// <param name="channels">Channel count.</param>
    /// <param name="eps">Added to the variance. Default 1e-5 (PyTorch's; Keras models use 1e-3).</param>
    /// <param name="momentum">Running-statistics momentum. Default 0.1.</param>
    public FreezableBatchNorm2d(long channels, double eps = 1e-5, double momentum = 0.1)
        : base(nameof(FreezableBatchNorm2d))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        Channels = channels;
        Eps = eps;
        Momentum = momentum;
        weight = new Parameter(ones(channels));
        bias = new Parameter(zeros(channels));
        running_mean = zeros(channels);
        running_var = ones(channels);
        num_batches_tracked = zeros(Array.Empty<long>(), ScalarType.Int64);
        RegisterComponents();
    }

    /// <summary>Channel count.</summary>
    public long Channels { get; }

    /// <summary>Added to the variance.</summary>
    public double Eps { get; }

    /// <summary>Running-statistics momentum.</summary>
    /// <remarks>Settable inside the assembly family: with 1, one training-mode forward sets the running statistics to the
    /// batch's (tests calibrate randomly initialised networks that way).</remarks>
    public double Momentum { get; internal set; }

    /// <summary>Scale ("weight").</summary>
    public Parameter Weight => weight;

    /// <summary>Shift ("bias").</summary>
    public Parameter Bias => bias;

    /// <summary>Running mean ("running_mean").</summary>
    public Tensor RunningMean => running_mean;

    /// <summary>Running variance ("running_var").</summary>
    public Tensor RunningVar => running_var;

    /// <summary>Batches seen in training mode ("num_batches_tracked").</summary>
    public Tensor NumBatchesTracked => num_batches_tracked;

    /// <summary>Frozen: running statistics only (never updated) and no gradient for weight and bias.</summary>
    public bool Frozen
    {
        get => frozen;
        set
        {
            frozen = value;
            weight.requires_grad = !value;
            bias.requires_grad = !value;
        }
    }

    /// <summary>
    /// Whether a training-mode forward folds its batch statistics into the running ones. Off for extra
    /// forwards whose batches must not shape the statistics inference uses (RRM's rescaled CAM-only
    /// forwards); they still normalise with their own batch statistics, as in training mode.
    /// </summary>
    internal bool TrackRunningStatistics { get; set; } = true;

    /// <summary>
    /// For a frozen layer, the per-channel affine map it applies: y = x * scale + shift with
    /// scale = weight / sqrt(running_var + eps) and shift = bias - running_mean * scale (both (C), no gradient
    /// history). A convolution followed by this layer equals the convolution with its weight's output channels
    /// multiplied by scale and bias shift, which saves a full pass over the activations forward and backward.
    /// </summary>
    /// <exception cref="InvalidOperationException">The layer is not frozen.</exception>
    internal (Tensor Scale, Tensor Shift) FrozenAffine()
    {
        if (!frozen)
        {
            throw new InvalidOperationException("Only a frozen BatchNorm is a fixed affine map.");
        }

        return InferenceAffine();
    }

    /// <summary>
    /// The per-channel affine map of this layer in evaluation mode (running statistics), frozen or not: the same
    /// scale and shift as <see cref="FrozenAffine"/>. The ONNX export folds it into the preceding convolution.
    /// </summary>
    internal (Tensor Scale, Tensor Shift) InferenceAffine()
    {
        using (no_grad())
        {
            var scale = weight * running_var.Plus(Eps).rsqrt();
            var shift = bias - (running_mean * scale);
            return (scale, shift);
        }
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        bool useBatchStatistics = training && !frozen;
        if (useBatchStatistics && !TrackRunningStatistics)
        {
            return nn.functional.batch_norm(input, null, null, weight, bias, training: true, Momentum, Eps);
        }

        if (useBatchStatistics)
        {
            using (no_grad())
            {
                num_batches_tracked.add_(Scalars.OneInt64, Scalars.OneInt64);
            }
        }

        return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, useBatchStatistics, Momentum, Eps);
    }
}
