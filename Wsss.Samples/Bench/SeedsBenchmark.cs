using System.Diagnostics;
using System.Globalization;
using Wsss.Imaging;
using Wsss.Seeds;

namespace Wsss.Samples.Bench;

/// <summary>
/// Timings of the seeds domain: dense CRF inference (10 mean-field iterations, training settings) at
/// 321x321 with 3 and 21 labels and at 500x375 with 3 labels, bilateral filtering of 4 images x 21
/// channels at 160x160 (sxy 50, srgb 15, the energy loss's setting) and reliable seeds of a batch of 4
/// crops. Each figure is the median of --repeat runs after one warm-up run, per thread count.
/// Usage: seeds [--threads 1,2] [--repeat 7].
/// </summary>
internal static class SeedsBenchmark
{
    public static int Run(string[] args)
    {
        int[] threadCounts = [1, 2];
        int repeat = 7;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads" when i + 1 < args.Length:
                    threadCounts = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries)
                        .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                    break;
                case "--repeat" when i + 1 < args.Length:
                    repeat = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                default:
                    Console.Error.WriteLine($"Unknown or incomplete argument '{args[i]}'. Usage: seeds [--threads 1,2] [--repeat N]");
                    return 2;
            }
        }

        if (repeat < 1 || threadCounts.Length == 0 || threadCounts.Any(t => t < 1))
        {
            Console.Error.WriteLine("--repeat must be >= 1 and --threads a list of positive counts.");
            return 2;
        }

        Console.WriteLine($"Seeds benchmark: median of {repeat} runs after a warm-up, {Environment.ProcessorCount} cores visible.");
        Console.WriteLine("Reference implementations (1 thread medians on the project machine): CRF 321x321 3 labels 156 ms, " +
                          "21 labels 363 ms, 500x375 3 labels 330 ms; bilateral 4x21ch 160x160 95 ms (1 thread), 68 ms (2 threads).");
        Console.WriteLine();
        Console.WriteLine($"{"case",-46} {"threads",7} {"median ms",10} {"min ms",8}");

        foreach (var (h, w, labels) in new[] { (321, 321, 3), (321, 321, 21), (375, 500, 3) })
        {
            RgbImage image = SyntheticImage(h, w, seed: 1);
            float[] probs = SyntheticProbabilities(labels, h, w, seed: 2);
            var q = new float[probs.Length];
            foreach (int t in threadCounts)
            {
                using var crf = new DenseCrf { Threads = t };
                Report($"dense CRF {w}x{h}, {labels} labels, 10 iterations", t, repeat, () => crf.Infer(image, probs, labels, q));
            }
        }

        {
            const int count = 4, side = 160, channels = 21;
            byte[] images = Enumerable.Range(0, count).SelectMany(i => SyntheticImage(side, side, seed: 10 + i).Pixels).ToArray();
            float[] input = SyntheticProbabilities(channels, side, side * count, seed: 3);
            var output = new float[input.Length];
            foreach (int t in threadCounts)
            {
                using var filter = new BilateralFilterBatch(t);
                Report($"bilateral {count} x {channels} ch {side}x{side} (sxy 50, srgb 15)", t, repeat,
                    () => filter.Filter(images, count, side, side, input, channels, 50f, 15f, output));
            }
        }

        {
            const int count = 4, side = 321, classes = 20;
            byte[] images = Enumerable.Range(0, count).SelectMany(i => SyntheticImage(side, side, seed: 20 + i).Pixels).ToArray();
            var labels = new byte[count * classes];
            var cams = new float[count * classes * side * side];
            var rng = new Random(5);
            for (int i = 0; i < count; i++)
            {
                // Two present classes per image, each with a smooth blob-shaped CAM.
                for (int k = 0; k < 2; k++)
                {
                    int c = rng.Next(classes);
                    labels[(i * classes) + c] = 1;
                    BlobCam(cams.AsSpan(((i * classes) + c) * side * side, side * side), side, rng);
                }
            }

            var output = new byte[count * side * side];
            foreach (int t in threadCounts)
            {
                using var seeds = new ReliableSeeds(threads: t);
                Report($"reliable seeds {count} x {side}x{side} (2 CRFs each)", t, repeat,
                    () => seeds.ComputeBatch(images, count, side, side, labels, cams, classes, output));
            }
        }

        return 0;
    }

    private static void Report(string name, int threads, int repeat, Action action)
    {
        action();
        var times = new double[repeat];
        for (int r = 0; r < repeat; r++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        Console.WriteLine($"{name,-46} {threads,7} {times[repeat / 2],10:F1} {times[0],8:F1}");
    }

    /// <summary>
    /// A deterministic image with the structure that drives the lattice's cost: a few smooth colour
    /// regions with soft gradients plus pixel noise, like a natural photograph.
    /// </summary>
    private static RgbImage SyntheticImage(int h, int w, int seed)
    {
        var rng = new Random(seed);
        var centres = Enumerable.Range(0, 6)
            .Select(_ => (Y: rng.NextDouble() * h, X: rng.NextDouble() * w, R: rng.Next(256), G: rng.Next(256), B: rng.Next(256)))
            .ToArray();
        var img = new RgbImage(h, w);
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                int best = 0;
                double bestD = double.MaxValue;
                for (int k = 0; k < centres.Length; k++)
                {
                    double d = ((centres[k].Y - y) * (centres[k].Y - y)) + ((centres[k].X - x) * (centres[k].X - x));
                    if (d < bestD)
                    {
                        bestD = d;
                        best = k;
                    }
                }

                double shade = 0.75 + (0.25 * Math.Sin((x + y) / 40.0));
                int noise = rng.Next(-8, 9);
                img[y, x] = (
                    (byte)Math.Clamp((int)(centres[best].R * shade) + noise, 0, 255),
                    (byte)Math.Clamp((int)(centres[best].G * shade) + noise, 0, 255),
                    (byte)Math.Clamp((int)(centres[best].B * shade) + noise, 0, 255));
            }
        }

        return img;
    }

    private static float[] SyntheticProbabilities(int labels, int h, int w, int seed)
    {
        var rng = new Random(seed);
        int n = h * w;
        var probs = new float[labels * n];
        for (int p = 0; p < n; p++)
        {
            float sum = 0;
            for (int c = 0; c < labels; c++)
            {
                float v = (float)rng.NextDouble();
                probs[(c * n) + p] = v;
                sum += v;
            }

            for (int c = 0; c < labels; c++)
            {
                probs[(c * n) + p] /= sum;
            }
        }

        return probs;
    }

    private static void BlobCam(Span<float> cam, int side, Random rng)
    {
        double cy = rng.NextDouble() * side, cx = rng.NextDouble() * side, radius = side * (0.15 + (0.2 * rng.NextDouble()));
        for (int y = 0; y < side; y++)
        {
            for (int x = 0; x < side; x++)
            {
                double d2 = (((y - cy) * (y - cy)) + ((x - cx) * (x - cx))) / (radius * radius);
                cam[(y * side) + x] = (float)Math.Exp(-d2);
            }
        }
    }
}
