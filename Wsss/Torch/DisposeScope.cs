namespace Wsss.Torch;

/// <summary>
/// Collects every tensor created on this thread while it is the innermost open scope, and disposes
/// them when the scope is disposed, except those moved out with <see cref="Tensor.MoveToOuterScope"/>
/// or <see cref="Tensor.DetachFromDisposeScope"/>. One scope per training step keeps native memory flat
/// without disposing each temporary by hand. Scopes nest and are per thread.
/// </summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic]
    private static DisposeScope? current;

    private readonly List<Tensor> tensors = new();
    private bool disposed;

    internal DisposeScope()
    {
        Outer = current;
        current = this;
    }

    internal static DisposeScope? Current => current;

    internal DisposeScope? Outer { get; }

    /// <summary>Number of tensors the scope will dispose.</summary>
    public int Count => tensors.Count(t => ReferenceEquals(t.Scope, this) && !t.IsDisposed);

    internal void Register(Tensor tensor)
    {
        tensor.Scope = this;
        tensors.Add(tensor);
    }

    /// <summary>Disposes every tensor still owned by this scope and closes it.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        if (!ReferenceEquals(current, this))
        {
            // Closing out of order would leave later scopes registering into a dead one. The scope stays open
            // (not marked disposed) so that closing it again in the right order still works: otherwise it
            // would remain the thread's current scope after its inner ones close, and hold every tensor
            // created later on this thread forever.
            throw new InvalidOperationException("Dispose scopes must be disposed in reverse order of creation (innermost first).");
        }

        disposed = true;
        current = Outer;
        foreach (Tensor t in tensors)
        {
            if (ReferenceEquals(t.Scope, this))
            {
                t.Scope = null;
                t.Dispose();
            }
        }

        tensors.Clear();
    }
}
