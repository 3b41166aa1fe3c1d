namespace Wsss.Seeds;

/// <summary>Argument checks shared by the seeds types.</summary>
internal static class SeedChecks
{
    internal static void RequireLength(long actual, long needed, string parameter, string what)
    {
        if (actual < needed)
        {
            throw new ArgumentException($"Expected at least {needed} {what}, got {actual}.", parameter);
        }
    }

    internal static void RequireThreads(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads, nameof(threads));
    }
}
