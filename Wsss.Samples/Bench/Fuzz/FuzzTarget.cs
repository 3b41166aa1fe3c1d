using System.Diagnostics;
using CsCheck;

namespace Wsss.Samples.Bench.Fuzz;

/// <summary>One file of a fuzz case: its path relative to the case's folder and its bytes.</summary>
internal sealed record FuzzFile(string Path, byte[] Bytes);

/// <summary>
/// One generated input of a reader: the files to lay out, the file the damage is in (the one an error must
/// name), what was done to it, and, for an undamaged case, the check of what the reader returned.
/// </summary>
/// <param name="Files">Every file of the case.</param>
/// <param name="DamagedFile">Relative path of the damaged file (the entry file of an undamaged case).</param>
/// <param name="Mutation">"none", or what was done ("truncate at 17", "flip 3 bytes", "shape[0] = 1e12").</param>
/// <param name="Verify">Undamaged cases only: null when the value read is right, else what differs.</param>
internal sealed record FuzzCase(IReadOnlyList<FuzzFile> Files, string DamagedFile, string Mutation, Func<object, string?>? Verify = null)
{
    /// <summary>A text that must appear in no error message or value (the content of a file that the input must not pull in).</summary>
    public string? Secret { get; init; }

    public long TotalBytes => Files.Sum(f => (long)f.Bytes.Length);

    public override string ToString() => $"{Mutation} in {DamagedFile} ({TotalBytes} bytes in {Files.Count} file(s))";
}

/// <summary>What one reader call did: the value (or the exception), its managed allocations and its time.</summary>
internal sealed record FuzzOutcome(object? Value, long ValueBytes, Exception? Error, long AllocatedBytes, TimeSpan Elapsed, bool TimedOut);

/// <summary>
/// A file reader under fuzz: generates valid files and damaged ones, reads a laid-out case, and knows which
/// exception type the reader documents. The property (see <see cref="FuzzCheck"/>) is the same for all.
/// </summary>
internal abstract class FuzzTarget : IDisposable
{
    /// <summary>Short name ("safetensors", "png-mask", ...), as `bench fuzz --reader` takes it.</summary>
    public abstract string Name { get; }

    /// <summary>The exception type the reader documents for a bad file.</summary>
    public abstract Type DocumentedException { get; }

    /// <summary>The cases: valid files and damaged ones.</summary>
    public abstract Gen<FuzzCase> Cases { get; }

    /// <summary>Reads the case laid out in <paramref name="directory"/>; returns the value and the size of its data in bytes.</summary>
    public abstract (object Value, long Bytes) Read(string directory);

    /// <summary>Strings the error message of a damaged case must contain (by default the damaged file's full path).</summary>
    public virtual IEnumerable<string> NamesInError(string directory, FuzzCase c) => [Path.Combine(directory, c.DamagedFile)];

    /// <summary>Checks what any successful read must satisfy, damaged input or not; null when it does.</summary>
    public virtual string? Invariant(object value) => null;

    public virtual void Dispose()
    {
    }
}

/// <summary>
/// The reader property: a read returns a right value (an undamaged case) or a well-formed one, or throws the
/// reader's documented exception naming the file; never another exception type, never hangs, and never
/// allocates far beyond the size of its input and of what it returns.
/// </summary>
internal static class FuzzCheck
{
    /// <summary>A read taking longer than this counts as hung. A hang guard, not a speed limit: reads take milliseconds.</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    /// <summary>Allocations every read may make whatever its input (buffers, parsers, exception messages).</summary>
    public const long AllocationFloor = 4L << 20;

    /// <summary>Allowed managed allocation per byte of input (files are read whole, JSON parsed, tensors copied).</summary>
    public const long AllocationPerInputByte = 16;

    /// <summary>Allowed managed allocation per byte of the returned value's data (a decoded image, tensors).</summary>
    public const long AllocationPerValueByte = 4;

    /// <summary>Written in a file's bytes, this stands for the case's folder (for inputs that point at their own files).</summary>
    public const string CaseFolderToken = "/__root__";

    /// <summary>Lays the case out in a fresh folder under <paramref name="workDirectory"/>, reads it, and judges it.</summary>
    /// <returns>Null when the property holds, else what broke it.</returns>
    public static string? Check(FuzzTarget target, FuzzCase c, string workDirectory)
    {
        string directory = Path.Combine(workDirectory, "case");
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        Directory.CreateDirectory(directory);
        foreach (FuzzFile file in c.Files)
        {
            string path = Path.Combine(directory, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, WithCaseFolder(file.Bytes, directory));
        }

        FuzzOutcome outcome = Run(() => target.Read(directory));
        return Judge(target, c, directory, outcome);
    }

    private static byte[] WithCaseFolder(byte[] bytes, string directory)
    {
        byte[] token = System.Text.Encoding.UTF8.GetBytes(CaseFolderToken);
        int at = bytes.AsSpan().IndexOf(token);
        if (at < 0)
        {
            return bytes;
        }

        return [.. bytes.AsSpan(0, at), .. System.Text.Encoding.UTF8.GetBytes(directory), .. WithCaseFolder(bytes[(at + token.Length)..], directory)];
    }

    /// <summary>Like <see cref="Check"/>, throwing with the case and the failure (for CsCheck's Sample).</summary>
    public static void Assert(FuzzTarget target, FuzzCase c, string workDirectory)
    {
        string? failure = Check(target, c, workDirectory);
        if (failure is not null)
        {
            throw new FuzzFailureException($"{target.Name}: {c}: {failure}");
        }
    }

    /// <summary>
    /// Runs the read on a thread of its own, so that a hang is reported instead of stalling the run, and counts
    /// that thread's managed allocations (the readers do their work on the calling thread).
    /// </summary>
    private static FuzzOutcome Run(Func<(object Value, long Bytes)> read)
    {
        FuzzOutcome? outcome = null;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            try
            {
                var (value, bytes) = read();
                outcome = new FuzzOutcome(value, bytes, null, GC.GetAllocatedBytesForCurrentThread() - before, clock.Elapsed, false);
            }
            catch (Exception e)
            {
                outcome = new FuzzOutcome(null, 0, e, GC.GetAllocatedBytesForCurrentThread() - before, clock.Elapsed, false);
            }
        })
        {
            // The default stack size: a reader that recursed too deeply for it would crash a user's thread too.
            IsBackground = true,
            Name = "fuzz read",
        };
        thread.Start();
        if (!thread.Join(HangLimit))
        {
            return new FuzzOutcome(null, 0, null, 0, HangLimit, true);
        }

        return outcome!;
    }

    private static string? Judge(FuzzTarget target, FuzzCase c, string directory, FuzzOutcome o)
    {
        if (o.TimedOut)
        {
            return $"no result after {HangLimit.TotalSeconds:F0} s (hang)";
        }

        long allowed = AllocationFloor + (AllocationPerInputByte * c.TotalBytes) + (AllocationPerValueByte * o.ValueBytes);
        if (o.AllocatedBytes > allowed)
        {
            return $"allocated {o.AllocatedBytes:N0} bytes for {c.TotalBytes:N0} bytes of input and {o.ValueBytes:N0} bytes of result (allowed {allowed:N0}); "
                + (o.Error is null ? "it returned" : $"it threw {o.Error.GetType().Name}: {o.Error.Message}");
        }

        if (c.Secret is { } secret && ((o.Error?.ToString() ?? "").Contains(secret, StringComparison.Ordinal) || (o.Value?.ToString() ?? "").Contains(secret, StringComparison.Ordinal)))
        {
            return $"the input pulled in the content of another file ('{secret}'): {o.Error?.Message ?? o.Value}";
        }

        if (o.Error is { } e)
        {
            if (!target.DocumentedException.IsInstanceOfType(e))
            {
                return $"threw {e.GetType().FullName} instead of {target.DocumentedException.Name}: {e}";
            }

            if (c.Verify is not null)
            {
                return $"rejected a valid file: {e.Message}";
            }

            string[] missing = target.NamesInError(directory, c).Where(name => !e.Message.Contains(name, StringComparison.Ordinal)).ToArray();
            return missing.Length == 0 ? null : $"the error does not name {string.Join(" and ", missing)}: {e.Message}";
        }

        if (target.Invariant(o.Value!) is { } broken)
        {
            return $"returned an ill-formed value: {broken}";
        }

        return c.Verify?.Invoke(o.Value!) is { } different ? $"read a valid file wrongly: {different}" : null;
    }
}

/// <summary>A broken reader property (the message holds the target, the case and what broke).</summary>
internal sealed class FuzzFailureException(string message) : Exception(message);
