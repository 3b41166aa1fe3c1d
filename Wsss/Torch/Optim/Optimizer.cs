using System.Globalization;

namespace Wsss.Torch.Optim;

/// <summary>
/// A set of parameters sharing a learning rate and weight decay. RRM uses four (backbone weights x1,
/// backbone biases x2, new-layer weights x10, new-layer biases x20); the learning rate is set per step.
/// </summary>
public sealed class ParameterGroup
{
    /// <summary>Creates a group.</summary>
    /// <param name="name">A name for logs and checkpoints ("backbone.weight").</param>
    /// <param name="parameters">The tensors to update (they must require gradients).</param>
    /// <param name="learningRateMultiplier">Factor applied to the optimiser's base learning rate.</param>
    /// <param name="weightDecay">L2 penalty (SGD) or decoupled decay (AdamW) of this group.</param>
    public ParameterGroup(string name, IEnumerable<Tensor> parameters, double learningRateMultiplier = 1.0, double weightDecay = 0.0)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Name = name;
        Parameters = parameters.ToArray();
        LearningRateMultiplier = learningRateMultiplier;
        WeightDecay = weightDecay;
    }

    /// <summary>Name for logs and checkpoint keys.</summary>
    public string Name { get; }

    /// <summary>The parameters.</summary>
    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>Multiplier of the base learning rate.</summary>
    public double LearningRateMultiplier { get; set; }

    /// <summary>Weight decay.</summary>
    public double WeightDecay { get; set; }
}

/// <summary>
/// Base of the optimisers: parameter groups, a base learning rate settable per step, zero_grad, and
/// per-parameter state tensors that round-trip through <see cref="StateDict"/> for checkpoints.
/// The update itself runs natively, one call per group.
/// </summary>
public abstract class Optimizer : IDisposable
{
    private readonly Dictionary<string, Tensor?[]> state = new(StringComparer.Ordinal);

    /// <summary>Creates the optimiser over <paramref name="groups"/>.</summary>
    protected Optimizer(IEnumerable<ParameterGroup> groups, double learningRate)
    {
        Groups = groups.ToArray();
        if (Groups.Count == 0)
        {
            throw new ArgumentException("an optimiser needs at least one parameter group", nameof(groups));
        }

        LearningRate = learningRate;
    }

    /// <summary>The groups, in order.</summary>
    public IReadOnlyList<ParameterGroup> Groups { get; }

    /// <summary>Base learning rate, multiplied by each group's multiplier. Set it before each step for schedules.</summary>
    public double LearningRate { get; set; }

    /// <summary>Updates count, used by schedules and AdamW's bias correction.</summary>
    public long StepCount { get; protected set; }

    /// <summary>Applies one update from the current gradients.</summary>
    public abstract void Step();

    /// <summary>Drops the gradients of every parameter.</summary>
    public void ZeroGrad()
    {
        foreach (var g in Groups)
        {
            foreach (var p in g.Parameters)
            {
                p.ZeroGrad();
            }
        }
    }

    /// <summary>
    /// The optimiser state (step count and per-parameter buffers) keyed "group{g}.{slot}.{i}" and "step";
    /// the tensors are copies owned by the caller.
    /// </summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            ["step"] = Torch.FromArray(new[] { StepCount }, 1).DetachFromDisposeScope(),
        };
        foreach (var (key, buffers) in state)
        {
            for (int i = 0; i < buffers.Length; i++)
            {
                if (buffers[i] is { } t)
                {
                    result[string.Create(CultureInfo.InvariantCulture, $"{key}.{i}")] = t.Clone().DetachFromDisposeScope();
                }
            }
        }

        return result;
    }

    /// <summary>Restores a state from <see cref="StateDict"/> (the groups must have the same shapes).</summary>
    /// <exception cref="InvalidDataException">A key does not fit this optimiser's groups.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        ClearState();
        foreach (var (key, value) in saved)
        {
            if (key == "step")
            {
                using var step = value.To(DType.Int64);
                StepCount = step.ToArray<long>()[0];
                continue;
            }

            int dot = key.LastIndexOf('.');
            if (dot < 0 || !int.TryParse(key.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            {
                throw new InvalidDataException($"'{key}' is not an optimiser state key.");
            }

            string slot = key[..dot];
            int group = GroupOfSlot(slot);
            var parameters = Groups[group].Parameters;
            if (index >= parameters.Count || !parameters[index].Shape.SequenceEqual(value.Shape))
            {
                throw new InvalidDataException($"Optimiser state '{key}' does not fit parameter {index} of group '{Groups[group].Name}'.");
            }

            // To() returns the same storage when dtype and device already match: clone, or the steps that follow
            // would update the caller's saved state (and any other optimiser restored from it) in place.
            using var converted = value.To(parameters[index].DType, parameters[index].Device);
            Slot(slot, parameters.Count)[index] = converted.Clone().DetachFromDisposeScope();
        }
    }

    /// <summary>Frees the state tensors.</summary>
    public void Dispose()
    {
        ClearState();
        GC.SuppressFinalize(this);
    }

    /// <summary>The per-parameter buffers of one kind ("momentum") for group <paramref name="group"/>.</summary>
    protected Tensor?[] Slot(int group, string kind) =>
        Slot(string.Create(CultureInfo.InvariantCulture, $"group{group}.{kind}"), Groups[group].Parameters.Count);

    private Tensor?[] Slot(string key, int count)
    {
        if (!state.TryGetValue(key, out var buffers))
        {
            buffers = new Tensor?[count];
            state[key] = buffers;
        }

        return buffers;
    }

    private int GroupOfSlot(string slot)
    {
        if (slot.StartsWith("group", StringComparison.Ordinal))
        {
            int dot = slot.IndexOf('.', StringComparison.Ordinal);
            if (dot > 5 && int.TryParse(slot.AsSpan(5, dot - 5), NumberStyles.None, CultureInfo.InvariantCulture, out int g) && g < Groups.Count)
            {
                return g;
            }
        }

        throw new InvalidDataException($"'{slot}' names no parameter group of this optimiser ({Groups.Count} groups).");
    }

    private void ClearState()
    {
        foreach (var buffers in state.Values)
        {
            foreach (var t in buffers)
            {
                t?.Dispose();
            }
        }

        state.Clear();
    }

    /// <summary>
    /// Calls a native update with raw handle arrays and wraps any state tensor the native side created.
    /// </summary>
    private protected static unsafe void WithHandles(IReadOnlyList<Tensor> parameters, Tensor?[][] slots, Func<nint[], nint[][], int> update)
    {
        using var p = new Interop.BorrowedHandles(parameters);
        var raw = new nint[slots.Length][];
        var borrowed = new List<Interop.BorrowedHandles>();
        try
        {
            for (int s = 0; s < slots.Length; s++)
            {
                raw[s] = new nint[parameters.Count];
                for (int i = 0; i < parameters.Count; i++)
                {
                    if (slots[s][i] is { } t)
                    {
                        var b = new Interop.BorrowedHandles([t]);
                        borrowed.Add(b);
                        raw[s][i] = b.Values[0];
                    }
                }
            }

            int status = update(p.Values, raw);
            // Adopt the state tensors the native step created before checking its status: a step that fails at
            // parameter k has already updated parameters 0..k-1 and created their buffers, which would otherwise
            // leak and leave the optimiser's state behind its parameters.
            for (int s = 0; s < slots.Length; s++)
            {
                for (int i = 0; i < parameters.Count; i++)
                {
                    if (slots[s][i] is null && raw[s][i] != 0)
                    {
                        slots[s][i] = new Tensor(raw[s][i]).DetachFromDisposeScope();
                    }
                }
            }

            Interop.NativeMethods.Check(status);
        }
        finally
        {
            foreach (var b in borrowed)
            {
                b.Dispose();
            }
        }
    }
}
