using System.Runtime.ExceptionServices;

namespace Wsss.Seeds.Lattice;

/// <summary>
/// Fork-join of <c>parts</c> numbered work items on the thread pool, without allocating per dispatch:
/// the lattice and the CRF run dozens of short phases per call (splat, reduce, d + 1 blur passes,
/// slice), a fraction of a millisecond each, so <see cref="Parallel.For(int, int, Action{int})"/>'s
/// per-call objects and task start-up would be paid that many times. The calling thread takes parts
/// itself, so a phase never waits for a pool thread that has not started: on a busy machine the
/// caller simply runs all parts (the degradation OpenMP's fixed teams do not have).
/// </summary>
/// <remarks>
/// One dispatch at a time per instance, and a part must not dispatch on the same instance (each
/// lattice and CRF owns its team). Parts are claimed dynamically, so which thread runs a part is
/// arbitrary: a body must make its result depend on the part number only.
/// </remarks>
internal sealed class WorkerTeam : IThreadPoolWorkItem
{
    // state = generation (bits 32-63) | part count (16-31) | next part to claim (0-15). Claims are
    // CAS on the whole word, so a helper that arrives after its dispatch ended can never claim a part
    // of the next dispatch under the old count: the generation differs.
    private const int MaxParts = ushort.MaxValue;

    private Action<int>? body;
    private long state;
    private int remaining;
    private int pending;
    private Exception? error;
    private uint generation;

    /// <summary>Number of threads a request means: at least 1, 0 or less = all cores.</summary>
    public static int Resolve(int threads) => threads > 0 ? threads : Math.Max(1, Environment.ProcessorCount);

    /// <summary>
    /// Splits <paramref name="threads"/> (0 = all cores) between items run in parallel (outer) and work
    /// inside one item (inner), as the C++ does.
    /// </summary>
    public static (int Outer, int Inner) Split(int threads, int items)
    {
        threads = Resolve(threads);
        int outer = Math.Max(1, Math.Min(threads, items));
        return (outer, Math.Max(1, threads / outer));
    }

    /// <summary>
    /// Parts for a loop over <paramref name="items"/> independent items: a few per thread so that a
    /// late or descheduled helper costs little, none below about 1,024 items (a part must outweigh its
    /// claim).
    /// </summary>
    public static int PartsFor(long items, int threads) =>
        threads <= 1 ? 1 : (int)Math.Clamp(items / 1024, 1, threads * 4L);

    /// <summary>Bounds of part <paramref name="part"/> of <paramref name="parts"/> over [0, total).</summary>
    public static (long Start, long End) Range(long total, int part, int parts) =>
        (total * part / parts, total * (part + 1) / parts);

    /// <summary>
    /// Runs <paramref name="work"/>(0 .. parts-1) on up to <paramref name="threads"/> threads (the
    /// caller included) and returns when all have finished; the first exception of a part is rethrown.
    /// </summary>
    public void Run(int parts, int threads, Action<int> work)
    {
        if (parts <= 0)
        {
            return;
        }

        if (threads <= 1 || parts == 1)
        {
            for (int i = 0; i < parts; i++)
            {
                work(i);
            }

            return;
        }

        ArgumentOutOfRangeException.ThrowIfGreaterThan(parts, MaxParts);
        body = work;
        error = null;
        Volatile.Write(ref remaining, parts);
        generation++;
        Volatile.Write(ref state, ((long)generation << 32) | ((long)parts << 16));

        // Helpers still queued from an earlier dispatch will pick this one up; only the shortfall is
        // queued, so a starved pool does not accumulate items.
        int helpers = Math.Min(threads, parts) - 1;
        while (true)
        {
            int queued = Volatile.Read(ref pending);
            if (queued >= helpers)
            {
                break;
            }

            if (Interlocked.CompareExchange(ref pending, queued + 1, queued) == queued)
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
        }

        Work();
        if (Volatile.Read(ref remaining) != 0)
        {
            // No Sleep(1): a part lasts well under a millisecond, so sleeping would cost more than it saves.
            var spin = default(SpinWait);
            while (Volatile.Read(ref remaining) != 0)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
        }

        Exception? failure = error;
        if (failure is not null)
        {
            error = null;
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>A pool thread helping with the current dispatch.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        Interlocked.Decrement(ref pending);
        Work();
    }

    private void Work()
    {
        while (true)
        {
            long s = Volatile.Read(ref state);
            int next = (int)(s & 0xFFFF);
            int count = (int)((s >> 16) & 0xFFFF);
            if (next >= count)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref state, s + 1, s) != s)
            {
                continue;
            }

            // The dispatch cannot end (and its body be replaced) before this part is counted down.
            try
            {
                body!(next);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref error, ex, null);
            }

            Interlocked.Decrement(ref remaining);
        }
    }
}
