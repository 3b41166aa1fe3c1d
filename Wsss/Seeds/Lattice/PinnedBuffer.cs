using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Wsss.Seeds.Lattice;

/// <summary>
/// A growable array on the pinned object heap, addressed by pointer. The lattice's hot loops index
/// several large buffers per point; pointers avoid bounds checks there, and pinning once at allocation
/// (instead of <c>fixed</c> around every phase) keeps the phase bodies free of pinning scopes.
/// </summary>
/// <remarks>Buffers only grow, so a workspace reused for calls of the same size never allocates again;
/// the arrays are ordinary GC memory and go with their owner.</remarks>
internal sealed unsafe class PinnedBuffer<T>
    where T : unmanaged
{
    private T[] array = [];

    /// <summary>Start of the current array (null before the first <see cref="Ensure"/>).</summary>
    public T* Pointer { get; private set; }

    /// <summary>Capacity in elements.</summary>
    public long Capacity => array.Length;

    /// <summary>Makes room for <paramref name="length"/> elements; contents are undefined after growth.</summary>
    public T* Ensure(long length)
    {
        if (length > array.Length)
        {
            Replace(length, keep: 0);
        }

        return Pointer;
    }

    /// <summary>Makes room for <paramref name="length"/> elements, keeping the first <paramref name="keep"/> ones.</summary>
    public T* Grow(long length, long keep)
    {
        if (length > array.Length)
        {
            Replace(length, keep);
        }

        return Pointer;
    }

    /// <summary>The first <paramref name="length"/> elements as a span.</summary>
    public Span<T> AsSpan(long length) => array.AsSpan(0, checked((int)length));

    private void Replace(long length, long keep)
    {
        if (length > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "The lattice needs a buffer larger than the largest .NET array.");
        }

        T[] next = GC.AllocateUninitializedArray<T>((int)length, pinned: true);
        if (keep > 0)
        {
            array.AsSpan(0, (int)keep).CopyTo(next);
        }

        array = next;
        Pointer = (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
    }
}
