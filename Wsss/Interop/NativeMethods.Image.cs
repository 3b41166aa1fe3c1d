using System.Runtime.InteropServices;

namespace Wsss.Interop;

internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)] internal static partial int wsss_buffer_free(nint buffer);
    [LibraryImport(Library)] internal static partial int wsss_buffer_copy(BufferHandle buffer, byte* destination, long nbytes);
    [LibraryImport(Library)] internal static partial int wsss_image_decode(byte* data, long length, out BufferHandle pixels, out int height, out int width);
    [LibraryImport(Library)] internal static partial int wsss_image_encode_png(byte* pixels, int height, int width, int channels, int compression, out BufferHandle png, out long length);
    [LibraryImport(Library)] internal static partial int wsss_image_resize(byte* source, int height, int width, int channels, byte* destination, int outHeight, int outWidth, int mode);
}

/// <summary>Owns a native byte buffer (decoded pixels or encoded PNG bytes).</summary>
internal sealed class BufferHandle : SafeHandle
{
    public BufferHandle()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => NativeMethods.wsss_buffer_free(handle) == 0;
}
