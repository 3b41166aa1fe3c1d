using System.Globalization;
using TorchSharp;
using TorchSharp.Modules;
using Wsss.Engine;
using Wsss.Model;
using static TorchSharp.torch;

namespace Wsss.Training;

/// <summary>
/// SGD with momentum over RRM's four parameter groups (spec section 6), with the base learning rate set per step
/// (poly decay) and multiplied by each group's factor, and its state (momentum buffers, step count) as named tensors
/// for checkpoints.
/// </summary>
/// <remarks>
/// Deviation from the engine issue's "torch.optim.SGD": the update is torch.optim.SGD's (no dampening, no Nesterov:
/// d = g + decay p; b = d on the first step, else b = momentum b + d; p -= lr b), written here op for op so that its
/// results are bit-identical (GroupedSgdTests compares the two), because TorchSharp 0.107's SGD.step passes its
/// decay, momentum and learning rate as implicit Scalars that a garbage collection on another thread may free while
/// libtorch still reads them (wrong updates or SIGSEGV; see <see cref="Scalars"/>). Here every Scalar lives until
/// the step has returned.
/// </remarks>
internal sealed class GroupedSgd : IDisposable
{
    private readonly RrmParameterGroup[] groups;
    private readonly Tensor?[][] momentumBuffers;
    private readonly double momentum;
    private readonly Scalar momentumScalar;

    public GroupedSgd(IReadOnlyList<RrmParameterGroup> groups, double learningRate, double momentum)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentOutOfRangeException.ThrowIfNegative(momentum);
        // Every group stays, even an empty one, so that state keys keep their group index.
        this.groups = groups.ToArray();
        momentumBuffers = this.groups.Select(g => new Tensor?[g.Parameters.Count]).ToArray();
        this.momentum = momentum;
        momentumScalar = momentum.ToScalar();
        LearningRate = learningRate;
    }

    /// <summary>Updates done (restored with the state).</summary>
    public long StepCount { get; private set; }

    /// <summary>Base learning rate; each group runs at this times its factor.</summary>
    public double LearningRate { get; set; }

    /// <summary>Zeroes the gradients in place (TorchSharp's zero_grad: the tensors stay allocated).</summary>
    public void ZeroGrad()
    {
        foreach (RrmParameterGroup g in groups)
        {
            foreach (Parameter p in g.Parameters)
            {
                using Tensor? grad = p.grad;
                grad?.zero_();
            }
        }
    }

    public void Step()
    {
        using (no_grad())
        using (NewDisposeScope())
        {
            for (int g = 0; g < groups.Length; g++)
            {
                RrmParameterGroup group = groups[g];
                using Scalar decay = group.WeightDecay.ToScalar();
                using Scalar negativeRate = (-LearningRate * group.LearningRateMultiplier).ToScalar();
                for (int i = 0; i < group.Parameters.Count; i++)
                {
                    Parameter p = group.Parameters[i];
                    Tensor? grad = p.grad;
                    if (grad is null)
                    {
                        continue;
                    }

                    if (group.WeightDecay != 0)
                    {
                        grad = grad.add(p, decay);
                    }

                    if (momentum != 0)
                    {
                        Tensor? buffer = momentumBuffers[g][i];
                        if (buffer is null)
                        {
                            buffer = grad.clone().detach().DetachFromDisposeScope();
                            momentumBuffers[g][i] = buffer;
                        }
                        else
                        {
                            buffer.mul_(momentumScalar).add_(grad, Scalars.One);
                        }

                        grad = buffer;
                    }

                    p.add_(grad, negativeRate);
                }
            }
        }

        StepCount++;
    }

    /// <summary>
    /// The state as CPU tensors owned by the caller: "step" (Int64, 1 element) and "group{g}.momentum.{i}" for
    /// every parameter that has a momentum buffer (none with momentum 0).
    /// </summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            ["step"] = tensor(new[] { StepCount }),
        };
        for (int g = 0; g < groups.Length; g++)
        {
            for (int i = 0; i < momentumBuffers[g].Length; i++)
            {
                if (momentumBuffers[g][i] is { } buffer)
                {
                    result[Key(g, i)] = buffer.detach().cpu().clone();
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Restores a state from <see cref="StateDict"/> (the groups must have the same shapes). The state is checked
    /// whole before anything changes, so a rejected one leaves this optimiser as it was.
    /// </summary>
    /// <exception cref="InvalidDataException">A key or shape does not fit this optimiser's groups.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        var known = new HashSet<string>(StringComparer.Ordinal) { "step" };
        for (int g = 0; g < groups.Length; g++)
        {
            for (int i = 0; i < groups[g].Parameters.Count; i++)
            {
                string key = Key(g, i);
                known.Add(key);
                Parameter p = groups[g].Parameters[i];
                if (saved.TryGetValue(key, out Tensor? value) && !value.shape.SequenceEqual(p.shape))
                {
                    throw new InvalidDataException($"optimiser state '{key}' has shape ({string.Join(", ", value.shape)}), the parameter ({string.Join(", ", p.shape)}).");
                }
            }
        }

        string? unknown = saved.Keys.FirstOrDefault(k => !known.Contains(k));
        if (unknown is not null)
        {
            throw new InvalidDataException($"optimiser state '{unknown}' does not belong to these parameter groups.");
        }

        if (saved.TryGetValue("step", out Tensor? step) && step.numel() != 1)
        {
            // item() would throw ArgumentException for any other count.
            throw new InvalidDataException($"optimiser state 'step' has {step.numel()} values, not 1.");
        }

        for (int g = 0; g < groups.Length; g++)
        {
            for (int i = 0; i < groups[g].Parameters.Count; i++)
            {
                momentumBuffers[g][i]?.Dispose();
                momentumBuffers[g][i] = null;
                if (saved.TryGetValue(Key(g, i), out Tensor? value))
                {
                    Parameter p = groups[g].Parameters[i];
                    momentumBuffers[g][i] = value.to(p.dtype, p.device, copy: true).DetachFromDisposeScope();
                }
            }
        }

        StepCount = step is null ? 0 : step.to(ScalarType.Int64).item<long>();
    }

    public void Dispose()
    {
        foreach (Tensor?[] buffers in momentumBuffers)
        {
            for (int i = 0; i < buffers.Length; i++)
            {
                buffers[i]?.Dispose();
                buffers[i] = null;
            }
        }

        momentumScalar.Dispose();
    }

    private static string Key(int group, int index) => string.Create(CultureInfo.InvariantCulture, $"group{group}.momentum.{index}");
}
