namespace Wsss.Model.Serialization;

/// <summary>
/// A weight or model file that cannot be read: not of the expected format, truncated, inconsistent,
/// or written by an unsupported version. The message names the file and, where one is at fault, the
/// tensor or entry.
/// </summary>
public sealed class FileFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="filePath">The file (or stream description) being read; null when unknown.</param>
    /// <param name="entryName">The tensor, weight or metadata key at fault; null for the whole file.</param>
    /// <param name="message">What is wrong, without the file name (it is prefixed here).</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public FileFormatException(string? filePath, string? entryName, string message, Exception? inner = null)
        : this(filePath, "entry", entryName, message, inner)
    {
    }

    /// <summary>Creates the exception, saying what kind of entry is at fault ("tensor", "weight", "metadata key").</summary>
    internal FileFormatException(string? filePath, string entryKind, string? entryName, string message, Exception? inner = null)
        : base(Compose(filePath, entryKind, entryName, message), inner)
    {
        FilePath = filePath;
        EntryName = entryName;
        Reason = message;
    }

    /// <summary>The file (or stream description) that could not be read; null when unknown.</summary>
    public string? FilePath { get; }

    /// <summary>The tensor, weight or metadata key at fault; null when the problem concerns the whole file.</summary>
    public string? EntryName { get; }

    /// <summary>What is wrong, without the file and entry prefix (for wrapping in a higher-level message).</summary>
    internal string Reason { get; }

    private static string Compose(string? filePath, string entryKind, string? entryName, string message)
    {
        string where = filePath is null ? "" : $"'{filePath}': ";
        string what = entryName is null ? "" : entryKind.Length == 0 ? $"{entryName}: " : $"{entryKind} '{entryName}': ";
        return where + what + message;
    }
}
