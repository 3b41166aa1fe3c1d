using System.Globalization;
using TorchSharp;
using TorchSharp.Modules;
using Wsss.Model;
using static TorchSharp.torch;

namespace Wsss.Training;

/// <summary>
/// torch.optim.SGD over RRM's four parameter groups (spec section 6), with the base learning rate set per
/// step (poly decay) and multiplied by each group's factor, and its state (momentum buffers, step count) as
/// named tensors for checkpoints.
/// </summary>
internal sealed class GroupedSgd : IDisposable
{
    private readonly RrmParameterGroup[] groups;
    private readonly SGD.ParamGroup[] paramGroups;
    private double learningRate;

    public GroupedSgd(IReadOnlyList<RrmParameterGroup> groups, double learningRate, double momentum)
    {
        ArgumentNullException.ThrowIfNull(groups);
        this.groups = groups.ToArray();
        // Every group stays in the optimiser, even an empty one, so that state keys keep their group index.
        paramGroups = this.groups
            .Select(g => new SGD.ParamGroup(g.Parameters, lr: learningRate * g.LearningRateMultiplier, momentum: momentum, weight_decay: g.WeightDecay))
            .ToArray();
        Optimizer = optim.SGD(paramGroups, learningRate, momentum);
        LearningRate = learningRate;
    }

    /// <summary>The TorchSharp optimiser.</summary>
    public SGD Optimizer { get; }

    /// <summary>Updates done (restored with the state).</summary>
    public long StepCount { get; private set; }

    /// <summary>Base learning rate; each group runs at this times its factor.</summary>
    public double LearningRate
    {
        get => learningRate;
        set
        {
            learningRate = value;
            for (int g = 0; g < groups.Length; g++)
            {
                paramGroups[g].LearningRate = value * groups[g].LearningRateMultiplier;
            }
        }
    }

    public void ZeroGrad() => Optimizer.zero_grad();

    public void Step()
    {
        Optimizer.step();
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
        var states = Optimizer.state_dict().State;
        int at = 0;
        for (int g = 0; g < paramGroups.Length; g++)
        {
            int count = paramGroups[g].Parameters.Count();
            for (int i = 0; i < count; i++, at++)
            {
                if (((SGD.State)states[at]).momentum_buffer is { } buffer)
                {
                    result[Key(g, i)] = buffer.detach().cpu().clone();
                }
            }
        }

        return result;
    }

    /// <summary>Restores a state from <see cref="StateDict"/> (the groups must have the same shapes).</summary>
    /// <exception cref="InvalidDataException">A key or shape does not fit this optimiser's groups.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        var states = Optimizer.state_dict().State;
        var known = new HashSet<string>(StringComparer.Ordinal) { "step" };
        int at = 0;
        for (int g = 0; g < paramGroups.Length; g++)
        {
            var parameters = paramGroups[g].Parameters.ToArray();
            for (int i = 0; i < parameters.Length; i++, at++)
            {
                string key = Key(g, i);
                known.Add(key);
                var state = (SGD.State)states[at];
                state.momentum_buffer?.Dispose();
                state.momentum_buffer = null;
                if (saved.TryGetValue(key, out Tensor? value))
                {
                    if (!value.shape.SequenceEqual(parameters[i].shape))
                    {
                        throw new InvalidDataException($"optimiser state '{key}' has shape ({string.Join(", ", value.shape)}), the parameter ({string.Join(", ", parameters[i].shape)}).");
                    }

                    state.momentum_buffer = value.to(parameters[i].dtype, parameters[i].device, copy: true).DetachFromDisposeScope();
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

        StepCount = step is null ? 0 : step.to(ScalarType.Int64).item<long>();
    }

    public void Dispose() => Optimizer.Dispose();

    private static string Key(int group, int index) => string.Create(CultureInfo.InvariantCulture, $"group{group}.momentum.{index}");
}
