using System.Diagnostics;
using System.Globalization;
using Wsss.Engine;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Onnx;
using Wsss.Samples.Onnx;

namespace Wsss.Samples.Bench;

/// <summary>
/// `bench inference`: images per second of single-scale prediction without CRF (image in, mask out, batch 1) at 321x321
/// and 500x375 (width x height), for the Wsss model on TorchSharp and for the same model exported to ONNX and run by ONNX
/// Runtime's CPU session (graph optimisations on), both with the same thread count. Rounds alternate between the
/// engines; the figures are the median and the best round, because the machine may be shared (the best round is the
/// least disturbed by other work). By default the network is a MobileNetV1 0.75 with 20 classes, its backbone the
/// ImageNet weights of ../shared/data/weights/mobilenet_v1_0.75_224 when they are there (realistic activations; random
/// weights otherwise, which the speed does not depend on as long as no value is denormal), its heads random;
/// --model takes a trained model file instead.
/// Options: --model FILE, --backbone KIND (default MobileNetV1), --width W (default 0.75), --classes N (default 20),
/// --weights FILE (TF.js model.json of MobileNetV1), --threads N (default all cores), --rounds N (default 7),
/// --images N per round (default 3), --keep FILE (keep the exported ONNX model there).
/// </summary>
internal static class InferenceBenchmark
{
    private const string Usage = "Usage: bench inference [--model FILE | --backbone KIND --width W --classes N --weights MODEL.json] [--threads N] [--rounds N] [--images N] [--keep FILE.onnx]";

    private static readonly (int Width, int Height)[] Sizes = [(321, 321), (500, 375)];

    public static int Run(string[] args)
    {
        string? modelPath = null, keep = null;
        string weights = Path.Combine("..", "shared", "data", "weights", "mobilenet_v1_0.75_224", "model.json");
        var kind = BackboneKind.MobileNetV1;
        double width = 0.75;
        int classes = 20, threads = Environment.ProcessorCount, rounds = 7, images = 3;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.\n{Usage}");
            switch (args[i])
            {
                case "--model": modelPath = Next(); break;
                case "--backbone": kind = Enum.Parse<BackboneKind>(Next(), ignoreCase: true); break;
                case "--width": width = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--classes": classes = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--images": images = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--keep": keep = Next(); break;
                case "--weights": weights = Next(); break;
                case "--help" or "-h" or "help":
                    Console.WriteLine(Usage);
                    return 0;
                default:
                    throw new ArgumentException($"unknown argument '{args[i]}'.\n{Usage}");
            }
        }

        if (threads < 1 || rounds < 1 || images < 1 || classes < 1)
        {
            throw new ArgumentException($"--threads, --rounds, --images and --classes must be positive.\n{Usage}");
        }

        TorchEngine.Threads = threads;
        string what = modelPath ?? "random weights";
        if (modelPath is null && kind == BackboneKind.MobileNetV1 && File.Exists(weights))
        {
            what = $"backbone weights {Path.GetFullPath(weights)}, random heads";
        }
        else
        {
            weights = string.Empty;
        }

        using SegmentationModel model = modelPath is null ? NewModel(kind, width, classes, weights) : SegmentationModel.Load(modelPath);
        string onnx = keep ?? Path.Combine(Path.GetTempPath(), $"wsss-bench-{Environment.ProcessId}.onnx");
        try
        {
            var clock = Stopwatch.StartNew();
            model.ExportOnnx(onnx);
            double exportSeconds = clock.Elapsed.TotalSeconds;
            using var runner = new OnnxRuntimeRunner(onnx, threads, OnnxInputFormat.RgbPlanes, model.Metadata.Normalization);
            Console.WriteLine(FormattableString.Invariant(
                $"bench inference: {model.Backbone} {model.Metadata.BackboneWidth:0.##}, {model.ClassNames.Count} classes ({what}); single scale, no CRF, batch 1, image in -> mask out"));
            Console.WriteLine(FormattableString.Invariant(
                $"TorchSharp 0.107 (libtorch {TorchSharp.torch.__version__}) vs ONNX Runtime {OnnxRuntimeRunner.Version} CPU (graph optimisations on), {threads} threads each, {Environment.ProcessorCount} cores, load average {LoadAverage()}; export {exportSeconds:F1} s, {new FileInfo(onnx).Length / 1048576.0:F1} MiB"));
            Console.WriteLine($"images/s over {rounds} alternating rounds of {images} images: median (best)");
            Console.WriteLine();
            Console.WriteLine($"{"size (WxH)",-12} {"TorchSharp",16} {"ONNX Runtime",16} {"ORT/TS",14} {"argmax agree",13}");
            foreach (var (w, h) in Sizes)
            {
                var image = Pattern(h, w);
                byte[] reference = model.Predict(image).Mask.Labels;
                byte[] exported = runner.Mask(image);
                double agreement = reference.Zip(exported).Count(p => p.First == p.Second) / (double)reference.Length;
                _ = model.Predict(image);
                _ = runner.Mask(image);
                var torch = new List<double>();
                var ort = new List<double>();
                for (int r = 0; r < rounds; r++)
                {
                    // Alternate which engine goes first, so that a burst of load elsewhere does not always hit the same one.
                    if (r % 2 == 0)
                    {
                        torch.Add(ImagesPerSecond(images, () => model.Predict(image)));
                        ort.Add(ImagesPerSecond(images, () => runner.Mask(image)));
                    }
                    else
                    {
                        ort.Add(ImagesPerSecond(images, () => runner.Mask(image)));
                        torch.Add(ImagesPerSecond(images, () => model.Predict(image)));
                    }
                }

                double t = Median(torch), o = Median(ort), tb = torch.Max(), ob = ort.Max();
                Console.WriteLine(FormattableString.Invariant(
                    $"{$"{w}x{h}",-12} {$"{t:F2} ({tb:F2})",16} {$"{o:F2} ({ob:F2})",16} {$"{o / t:F2}x ({ob / tb:F2}x)",14} {agreement,13:P2}"));
            }

            Console.WriteLine();
            Console.WriteLine($"load average at the end {LoadAverage()}");
            return 0;
        }
        finally
        {
            if (keep is null)
            {
                File.Delete(onnx);
            }
        }
    }

    private static SegmentationModel NewModel(BackboneKind kind, double width, int classes, string weights)
    {
        Backbone backbone = weights.Length > 0 ? TfjsImport.LoadMobileNetV1(weights) : Backbones.Create(kind, width);
        var metadata = new ModelFileMetadata
        {
            Backbone = kind, BackboneWidth = width, Normalization = backbone.Normalization,
            ClassNames = Enumerable.Range(1, classes).Select(c => $"class{c}").ToArray(),
        };
        return new SegmentationModel(new RrmNetwork(backbone, classes), metadata, Devices.Cpu);
    }

    private static double ImagesPerSecond(int count, Action predict)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            predict();
        }

        return count / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static RgbImage Pattern(int height, int width)
    {
        var image = new RgbImage(height, width);
        var rng = new Random(7);
        rng.NextBytes(image.Pixels);
        return image;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
