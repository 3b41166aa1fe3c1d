using System.Runtime.InteropServices;

namespace Wsss.Interop;

/// <summary>Owns one native tensor (an at::Tensor on the native heap); released exactly once.</summary>
internal sealed class TensorHandle : SafeHandle
{
    public TensorHandle()
        : base(0, ownsHandle: true)
    {
    }

    internal TensorHandle(nint handle)
        : base(0, ownsHandle: true)
    {
        SetHandle(handle);
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => NativeMethods.wsss_tensor_free(handle) == 0;
}
