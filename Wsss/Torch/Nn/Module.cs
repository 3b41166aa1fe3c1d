namespace Wsss.Torch.Nn;

/// <summary>
/// Base of every network part: owns named parameters, buffers and child modules, whose dotted names
/// ("backbone.conv1.weight") are the keys of <see cref="StateDict"/> and of the model file. Parameters
/// and buffers live outside dispose scopes and are freed by <see cref="Dispose"/>.
/// </summary>
public abstract class Module : IDisposable
{
    private readonly List<KeyValuePair<string, Tensor>> parameters = new();
    private readonly List<KeyValuePair<string, Tensor>> buffers = new();
    private readonly List<KeyValuePair<string, Module>> children = new();
    private bool disposed;

    /// <summary>True in training mode (dropout active, batch statistics in BatchNorm unless frozen).</summary>
    public bool IsTraining { get; private set; } = true;

    /// <summary>Registers a trainable parameter under <paramref name="name"/> and returns it.</summary>
    protected Tensor RegisterParameter(string name, Tensor value, bool requiresGrad = true)
    {
        ValidateName(name);
        value.DetachFromDisposeScope();
        value.RequiresGrad = requiresGrad;
        parameters.Add(new(name, value));
        return value;
    }

    /// <summary>Registers a non-trainable state tensor (running statistics) under <paramref name="name"/>.</summary>
    protected Tensor RegisterBuffer(string name, Tensor value)
    {
        ValidateName(name);
        value.DetachFromDisposeScope();
        buffers.Add(new(name, value));
        return value;
    }

    /// <summary>Registers a child module under <paramref name="name"/> and returns it.</summary>
    protected T RegisterModule<T>(string name, T module)
        where T : Module
    {
        ValidateName(name);
        children.Add(new(name, module));
        return module;
    }

    /// <summary>Parameters with their dotted names, depth first in registration order.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> NamedParameters()
    {
        foreach (var p in parameters)
        {
            yield return p;
        }

        foreach (var (childName, child) in children)
        {
            foreach (var (name, p) in child.NamedParameters())
            {
                yield return new($"{childName}.{name}", p);
            }
        }
    }

    /// <summary>All parameters.</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Value);

    /// <summary>Buffers with their dotted names.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> NamedBuffers()
    {
        foreach (var b in buffers)
        {
            yield return b;
        }

        foreach (var (childName, child) in children)
        {
            foreach (var (name, b) in child.NamedBuffers())
            {
                yield return new($"{childName}.{name}", b);
            }
        }
    }

    /// <summary>Child modules with their dotted names, this module's descendants depth first.</summary>
    public IEnumerable<KeyValuePair<string, Module>> NamedModules()
    {
        foreach (var (childName, child) in children)
        {
            yield return new(childName, child);
            foreach (var (name, m) in child.NamedModules())
            {
                yield return new($"{childName}.{name}", m);
            }
        }
    }

    /// <summary>
    /// Parameters and buffers by dotted name. The tensors are the live ones, not copies: serialise them,
    /// do not dispose them.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in NamedParameters().Concat(NamedBuffers()))
        {
            state.Add(name, t);
        }

        return state;
    }

    /// <summary>
    /// Copies values into the parameters and buffers (converted to their dtype and device). With
    /// <paramref name="strict"/>, a missing or unexpected key is an error; a shape mismatch always is.
    /// </summary>
    /// <returns>The keys of this module that <paramref name="state"/> did not provide (empty when strict).</returns>
    /// <exception cref="InvalidDataException">A key is missing or unexpected (strict), or a shape differs; the message names the key.</exception>
    public IReadOnlyList<string> LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
        {
            throw new InvalidDataException(
                $"The state does not match {GetType().Name}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}].");
        }

        foreach (var (name, target) in own)
        {
            if (!state.TryGetValue(name, out Tensor? source))
            {
                continue;
            }

            if (!source.Shape.SequenceEqual(target.Shape))
            {
                throw new InvalidDataException(
                    $"'{name}' has shape ({string.Join(", ", source.Shape.ToArray())}) but {GetType().Name} expects ({string.Join(", ", target.Shape.ToArray())}).");
            }
        }

        using (Torch.NoGrad())
        {
            foreach (var (name, target) in own)
            {
                if (state.TryGetValue(name, out Tensor? source))
                {
                    target.CopyFrom(source);
                }
            }
        }

        return missing;
    }

    /// <summary>Sets training mode on this module and its descendants.</summary>
    public virtual void Train(bool training = true)
    {
        IsTraining = training;
        foreach (var (_, child) in children)
        {
            child.Train(training);
        }
    }

    /// <summary>Sets evaluation mode (same as Train(false)).</summary>
    public void Eval() => Train(false);

    /// <summary>Stops gradients for every parameter of this module and its descendants (they keep their values).</summary>
    public virtual void Freeze()
    {
        // Recurse through the children's own Freeze/Unfreeze (not over Parameters()) so that overrides
        // apply: a frozen BatchNorm2d must stay frozen when its parent network is unfrozen.
        foreach (var (_, p) in parameters)
        {
            p.RequiresGrad = false;
        }

        foreach (var (_, child) in children)
        {
            child.Freeze();
        }
    }

    /// <summary>Lets every parameter of this module and its descendants train again (frozen BatchNorm layers stay frozen).</summary>
    public virtual void Unfreeze()
    {
        foreach (var (_, p) in parameters)
        {
            p.RequiresGrad = true;
        }

        foreach (var (_, child) in children)
        {
            child.Unfreeze();
        }
    }

    /// <summary>Moves parameters and buffers to <paramref name="device"/> in place (handles stay valid).</summary>
    /// <exception cref="InvalidOperationException">The device is not available.</exception>
    public void To(Device device)
    {
        device.EnsureAvailable();
        foreach (var t in Parameters().Concat(NamedBuffers().Select(b => b.Value)))
        {
            if (t.Device != device)
            {
                using var moved = t.Detach().To(device);
                t.SetData(moved);
            }
        }
    }

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount() => Parameters().Sum(p => p.NumberOfElements);

    /// <summary>Frees every parameter and buffer of this module and its descendants.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        foreach (var (_, p) in parameters)
        {
            p.Dispose();
        }

        foreach (var (_, b) in buffers)
        {
            b.Dispose();
        }

        foreach (var (_, c) in children)
        {
            c.Dispose();
        }

        GC.SuppressFinalize(this);
    }

    private void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Contains('.', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{name}': names of parameters, buffers and modules must not contain '.' (it separates levels of the state dict).", nameof(name));
        }

        if (parameters.Any(p => p.Key == name) || buffers.Any(b => b.Key == name) || children.Any(c => c.Key == name))
        {
            throw new ArgumentException($"'{name}' is already registered in {GetType().Name}.", nameof(name));
        }
    }
}

/// <summary>A module with one tensor in and one tensor out.</summary>
public abstract class TensorModule : Module
{
    /// <summary>Computes the output.</summary>
    public abstract Tensor Forward(Tensor input);
}
