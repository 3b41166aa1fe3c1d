namespace Wsss;

/// <summary>
/// Writes files so that a reader sees either the old complete file or the new complete one: the data goes
/// to a temporary file in the same directory (same file system, so the rename is atomic), is flushed to
/// disk, then renamed over the target. A failure leaves the previous file untouched.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Writes UTF-8 text to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Deletes the temporary files that writers of <paramref name="path"/> left behind when they were killed (SIGKILL,
    /// power loss) before their rename: each name carries its writer's process id, and one whose writer no longer runs
    /// can never be completed. Files of running writers, and names not of <see cref="Write"/>'s pattern, are left alone.
    /// </summary>
    public static void DeleteAbandonedTemporaries(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        string prefix = $".{Path.GetFileName(full)}.";
        if (!Directory.Exists(directory))
        {
            return;
        }

        foreach (string temp in Directory.EnumerateFiles(directory, ".*.tmp"))
        {
            string name = Path.GetFileName(temp);
            if (!name.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            // ".{file}.{pid}.{guid:N}.tmp"
            string[] parts = name[prefix.Length..^".tmp".Length].Split('.');
            if (parts.Length != 2 || !int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid)
                || parts[1].Length != 32 || !parts[1].All(char.IsAsciiHexDigitLower) || pid == Environment.ProcessId || IsRunning(pid))
            {
                continue;
            }

            try
            {
                File.Delete(temp);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left for the next attempt; a stale temporary file harms nothing.
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Streams content produced by <paramref name="write"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(directory);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception deleteError) when (deleteError is IOException or UnauthorizedAccessException)
            {
                // The original error matters more than a leftover temporary file.
            }

            // The system's message names the temporary file (or the folder); the caller knows the target. A full disk
            // or a read-only folder then reads "could not write 'out/model.safetensors': No space left on device ...".
            if (e is UnauthorizedAccessException)
            {
                throw new UnauthorizedAccessException($"could not write '{full}': {e.Message}", e);
            }

            if (e is IOException)
            {
                throw new IOException($"could not write '{full}': {e.Message}", e);
            }

            throw;
        }
    }
}
