namespace Wsss.Imaging;

/// <summary>
/// An image or mask file is corrupt, truncated or in a variant this library does not read. The message
/// names the file and the problem; <see cref="FilePath"/> holds the file (or a description of the
/// in-memory source).
/// </summary>
public sealed class ImageFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="filePath"/>; the message is prefixed with the file.</summary>
    public ImageFormatException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner)
    {
        FilePath = filePath;
    }

    /// <summary>The file (or in-memory source name) that could not be read.</summary>
    public string FilePath { get; }
}
