namespace Wsss;

/// <summary>
/// An error reported by the native engine (libtorch, or the CRF and seeds code). The message is the native one,
/// without the C++ backtrace; the process and every other tensor stay usable.
/// </summary>
public sealed class WsssNativeException : Exception
{
    /// <summary>Creates the exception with the native message.</summary>
    public WsssNativeException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the native message and the exception that caused it.</summary>
    public WsssNativeException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
