using System.Diagnostics;
using System.Globalization;
using CsCheck;
using Wsss.Samples.Bench.Fuzz;

namespace Wsss.Samples.Bench;

/// <summary>
/// `bench fuzz`: the reader property of the tests (Wsss.Tests/Reliability/ReaderFuzzTests) for as long as asked,
/// over every reader in turn, counting cases and failures instead of stopping at the first one.
/// Usage: fuzz [--minutes 10] [--reader NAME[,NAME...]] [--seed N] [--show 5].
/// Prints per reader the cases tried, the failures and the first few of them, each with the CsCheck seed that
/// replays it (<c>Cases.Sample(check, seed: "...")</c>); exits with 1 when any case failed.
/// </summary>
internal static class FuzzBenchmark
{
    public static int Run(string[] args)
    {
        double minutes = 1;
        string[] readers = FuzzTargets.Names;
        ulong seed = (ulong)Stopwatch.GetTimestamp();
        int show = 5;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--minutes": minutes = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--reader": readers = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--seed": seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--show": show = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "help" or "-h":
                    Console.WriteLine($"fuzz [--minutes 1] [--reader {string.Join(",", FuzzTargets.Names)}] [--seed N] [--show 5]");
                    return 0;
                default:
                    Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: fuzz [--minutes N] [--reader NAME,...] [--seed N] [--show N].");
                    return 2;
            }
        }

        if (!(minutes > 0) || readers.Length == 0)
        {
            Console.Error.WriteLine("--minutes must be positive and --reader name at least one reader.");
            return 2;
        }

        string work = Path.Combine(Path.GetTempPath(), "wsss-fuzz-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        var targets = readers.Select(FuzzTargets.Create).ToArray();
        var tried = new long[targets.Length];
        var failures = targets.Select(_ => new List<string>()).ToArray();
        var failed = new long[targets.Length];
        Console.WriteLine(FormattableString.Invariant($"Reader fuzz: {string.Join(", ", readers)} for {minutes} min; seed {seed}."));
        try
        {
            var pcg = new PCG(1, seed);
            var deadline = Stopwatch.StartNew();
            var limit = TimeSpan.FromMinutes(minutes);
            while (deadline.Elapsed < limit)
            {
                // Round robin in blocks of 20 cases, so that each reader gets its share of the time.
                for (int t = 0; t < targets.Length && deadline.Elapsed < limit; t++)
                {
                    for (int k = 0; k < 20; k++)
                    {
                        string replay = pcg.ToString();
                        FuzzCase c = targets[t].Cases.Generate(pcg, null, out _);
                        string? failure = FuzzCheck.Check(targets[t], c, Path.Combine(work, targets[t].Name));
                        tried[t]++;
                        if (failure is not null)
                        {
                            failed[t]++;
                            if (failures[t].Count < show)
                            {
                                failures[t].Add($"{c}: {failure} (seed {replay})");
                            }
                        }
                    }
                }
            }

            Console.WriteLine($"{"reader",-12} {"cases",10} {"failures",9}");
            for (int t = 0; t < targets.Length; t++)
            {
                Console.WriteLine($"{targets[t].Name,-12} {tried[t],10} {failed[t],9}");
                foreach (string f in failures[t])
                {
                    Console.WriteLine("    " + (f.Length > 2000 ? f[..2000] + " ..." : f));
                }
            }

            Console.WriteLine($"total: {tried.Sum()} cases, {failed.Sum()} failures");
            return failed.Sum() == 0 ? 0 : 1;
        }
        finally
        {
            foreach (FuzzTarget target in targets)
            {
                target.Dispose();
            }

            Directory.Delete(work, recursive: true);
        }
    }
}
