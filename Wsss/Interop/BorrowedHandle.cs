using Wsss.Torch;

namespace Wsss.Interop;

/// <summary>
/// The raw handle of an optional tensor (0 for null), kept alive and undisposable for the duration of a
/// native call: the SafeHandle reference count guards against a concurrent Dispose.
/// </summary>
internal ref struct BorrowedHandle
{
    private readonly Tensor? tensor;
    private bool added;

    public BorrowedHandle(Tensor? tensor)
    {
        this.tensor = tensor;
        added = false;
        Value = 0;
        if (tensor is not null)
        {
            tensor.Handle.DangerousAddRef(ref added);
            Value = tensor.Handle.DangerousGetHandle();
        }
    }

    public nint Value { get; }

    public void Dispose()
    {
        if (added)
        {
            tensor!.Handle.DangerousRelease();
            added = false;
        }
    }
}

/// <summary>Raw handles of a list of tensors, kept alive for one native call.</summary>
internal sealed class BorrowedHandles : IDisposable
{
    private readonly IReadOnlyList<Tensor> tensors;
    private readonly bool[] added;

    public BorrowedHandles(IReadOnlyList<Tensor> tensors)
    {
        this.tensors = tensors;
        added = new bool[tensors.Count];
        Values = new nint[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            ArgumentNullException.ThrowIfNull(tensors[i]);
            tensors[i].Handle.DangerousAddRef(ref added[i]);
            Values[i] = tensors[i].Handle.DangerousGetHandle();
        }
    }

    public nint[] Values { get; }

    public void Dispose()
    {
        for (int i = 0; i < added.Length; i++)
        {
            if (added[i])
            {
                tensors[i].Handle.DangerousRelease();
                added[i] = false;
            }
        }
    }
}
