using System.Diagnostics;
using Spectre.Console;

namespace Wsss.Samples;

/// <summary>
/// Long work with a visible progress: a Spectre.Console bar with ETA on a terminal, or plain log lines
/// (throttled: about every tenth of the work or every 15 s) when output is redirected or --no-progress is set,
/// so logs and CI output stay readable.
/// </summary>
internal sealed class ProgressDisplay
{
    private readonly bool plain;
    private readonly bool silent;

    public ProgressDisplay(bool noProgress, bool silent = false)
    {
        plain = silent || noProgress || Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive;
        this.silent = silent;
    }

    /// <summary>True when progress is printed as plain lines.</summary>
    public bool Plain => plain;

    /// <summary>Runs <paramref name="body"/>, which reports (done, status text) through the callback it gets.</summary>
    public T Run<T>(string title, int total, Func<Action<int, string?>, T> body)
    {
        if (silent)
        {
            return body((_, _) => { });
        }

        if (plain)
        {
            var clock = Stopwatch.StartNew();
            int step = Math.Max(1, total / 10);
            int nextAt = 0, lastDone = 0;
            TimeSpan lastTime = TimeSpan.Zero;
            Console.WriteLine($"{title}: {total} steps");
            return body((done, status) =>
            {
                bool due = done >= nextAt || done == total || clock.Elapsed - lastTime > TimeSpan.FromSeconds(15);
                if (!due)
                {
                    return;
                }

                // The recent rate, not the average: training steps get slower once seeds start.
                double perStep = done > lastDone ? (clock.Elapsed - lastTime).TotalSeconds / (done - lastDone) : double.NaN;
                string eta = double.IsFinite(perStep) ? TimeSpan.FromSeconds(Math.Round(perStep * (total - done))).ToString("c") : "?";
                nextAt = ((done / step) + 1) * step;
                lastTime = clock.Elapsed;
                lastDone = done;
                Console.WriteLine($"  {title} {done}/{total} ({100.0 * done / total:F0}%) elapsed {clock.Elapsed:hh\\:mm\\:ss} eta {eta}{(status is null ? string.Empty : "  " + status)}");
            });
        }

        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: total);
                result = body((done, status) =>
                {
                    task.Value = done;
                    if (status is not null)
                    {
                        task.Description = Markup.Escape($"{title} {status}");
                    }
                });
                task.Value = total;
            });
        return result;
    }

    /// <summary>Runs <paramref name="body"/> over items 0..count-1 with a progress display.</summary>
    public void ForEach(string title, int count, Action<int> body) =>
        Run(title, count, report =>
        {
            for (int i = 0; i < count; i++)
            {
                body(i);
                report(i + 1, null);
            }

            return 0;
        });
}
