using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Wsss.Data;
using Wsss.Imaging;
using Wsss.Losses;
using Wsss.Model;
using Wsss.Seeds;
using TorchSharp;
using Wsss.Engine;
using static TorchSharp.torch;
using Wsss.Training;

namespace Wsss.Samples.Bench;

/// <summary>
/// Time and memory of the RRM training step (issue 5, items 6 and 7).
/// <para>Default mode: runs the real trainer (<see cref="RrmTrainer"/>) for --warmup + --steps iterations and
/// prints the median of each part of the step (forward, multi-scale CAM, seeds, losses, backward,
/// optimizer) next to the same network and step in PyTorch (bench/pytorch_step.py, run as a child process
/// with Debian's python3-torch), and against a model of the reference design's step: the same network
/// part + seeds one image at a time on one thread + the energy loss on one thread (both measured here with
/// our implementation at 1 thread).</para>
/// <para>--allocators: the same measurement in child processes with glibc's default allocator, with
/// <see cref="TorchEngine.ConfigureAllocator"/>'s mallopt settings, and with jemalloc (LD_PRELOAD).</para>
/// <para>--memory: a long small run (SmallCnn, 64x64, batch 4, 2,000 steps by default) printing VmRSS every
/// --report-every steps and its growth between the end of warm-up and the end (MB and per cent of the warm RSS).</para>
/// Usage: training [--backbone mobilenet|resnet38|resnet50|smallcnn] [--width 0.75] [--batch 4] [--crop 321]
/// [--threads 2] [--steps 10] [--warmup 8] [--synthetic] [--no-pytorch] [--no-reference] [--allocators]
/// [--allocator default|mallopt] [--memory [--report-every 100]].
/// </summary>
internal static class TrainingBenchmark
{
    private const string ResultPrefix = "RESULT ";
    private const string JemallocPath = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

    private static readonly string[] Parts = ["forward", "cam", "seeds", "losses", "backward", "optimizer"];

    public static int Run(string[] args)
    {
        var o = new Settings();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--backbone": o.Backbone = ParseBackbone(Next()); break;
                case "--width": o.Width = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--batch": o.Batch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--crop": o.Crop = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": o.Threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--steps": o.Steps = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup": o.Warmup = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--report-every": o.ReportEvery = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--synthetic": o.Synthetic = true; break;
                case "--no-pytorch": o.PyTorch = false; break;
                case "--no-reference": o.Reference = false; break;
                case "--allocators": o.CompareAllocators = true; break;
                case "--allocator": o.Allocator = Next(); break;
                case "--mmap-threshold-mib": o.MmapThresholdMiB = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--memory": o.Memory = true; break;
                case "--child": o.Child = true; break;
                default:
                    Console.Error.WriteLine($"Unknown argument '{args[i]}'. See the summary of TrainingBenchmark for the usage.");
                    return 2;
            }
        }

        if (o.Memory)
        {
            return RunMemory(o, args);
        }

        if (o.Batch < 1 || o.Crop < 16 || o.Threads < 1 || o.Steps < 1 || o.Warmup < 0)
        {
            Console.Error.WriteLine("--batch, --threads and --steps must be >= 1, --crop >= 16, --warmup >= 0.");
            return 2;
        }

        if (o.Child)
        {
            // A child measures one allocator configuration and prints its medians as one JSON line.
            ApplyAllocator(o.Allocator, o.MmapThresholdMiB);
            var medians = MeasureSteps(o, out _, out _);
            Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(medians));
            return 0;
        }

        return o.CompareAllocators ? CompareAllocators(o) : RunSpeed(o);
    }

    // ---------------------------------------------------------------- speed

    private static int RunSpeed(Settings o)
    {
        Console.WriteLine($"Training step benchmark: {o.Describe()}; medians of {o.Steps} steps after {o.Warmup} warm-up steps.");
        Console.WriteLine($"Load average at start: {LoadAverage()}");
        ApplyAllocator(o.Allocator, o.MmapThresholdMiB);
        var ours = MeasureSteps(o, out var batch, out int classCount);
        Dictionary<string, double>? torch = null;
        if (o.PyTorch && o.Backbone is BackboneKind.MobileNetV1 or BackboneKind.ResNet18)
        {
            torch = RunPyTorch(o);
        }
        else if (o.PyTorch)
        {
            Console.WriteLine($"(bench/pytorch_step.py implements MobileNetV1 and ResNet18 only; no PyTorch column for {o.Backbone}.)");
        }

        Console.WriteLine();
        Console.WriteLine($"{"part",-34} {"Wsss ms",10} {"PyTorch ms",11} {"ratio",7}");
        foreach (string part in Parts)
        {
            PrintRow(part, ours[part], part is "seeds" ? null : torch?.GetValueOrDefault(part));
        }

        double network = ours["forward"] + ours["cam"] + ours["backward"] + ours["optimizer"];
        double? torchNetwork = torch is null ? null : torch["forward"] + torch["cam"] + torch["backward"] + torch["optimizer"];
        double whole = Parts.Sum(p => ours[p]) + ours["data"];
        Console.WriteLine(new string('-', 65));
        PrintRow("network (fwd + CAM + bwd + opt)", network, torchNetwork);
        PrintRow("data wait (prefetched)", ours["data"], null);
        PrintRow("whole step", whole, null);
        Console.WriteLine("(PyTorch 'losses' = classification + seeded CE + the energy loss's graph, its filtered W S a random constant; ours also runs the filter.)");
        if (torchNetwork is { } tn)
        {
            Console.WriteLine(FormattableString.Invariant($"Goal network part <= 0.9x PyTorch: {network / tn:F2}x -> {(network / tn <= 0.9 ? "met" : "NOT met")}"));
        }

        if (o.Reference && batch is not null)
        {
            var r = MeasureSeedsAndEnergy(o, batch, classCount);
            double ceAndCls = Math.Max(0, ours["losses"] - r.EnergyParallel);
            double reference = network + ceAndCls + r.SeedsSequential1 + r.Energy1;
            Console.WriteLine();
            Console.WriteLine("Reference design model (CRFs one image at a time on one core):");
            Console.WriteLine(FormattableString.Invariant($"  seeds, {o.Batch} images sequential, 1 thread   {r.SeedsSequential1,10:F1} ms   (ours, batch in parallel, {o.Threads} threads: {r.SeedsParallel:F1} ms)"));
            Console.WriteLine(FormattableString.Invariant($"  energy loss, 1 thread                  {r.Energy1,10:F1} ms   (ours, {o.Threads} threads: {r.EnergyParallel:F1} ms)"));
            Console.WriteLine(FormattableString.Invariant($"  network part + CE/classification       {network + ceAndCls,10:F1} ms   (ours, same in both)"));
            Console.WriteLine(FormattableString.Invariant($"  reference step                         {reference,10:F1} ms"));
            Console.WriteLine(FormattableString.Invariant($"  our whole step                         {whole,10:F1} ms   -> {whole / reference:F2}x the reference's (goal <= 0.5: {(whole / reference <= 0.5 ? "met" : "NOT met")})"));
            if (torch is not null && torchNetwork is { } tnet)
            {
                // The reference code runs its network in PyTorch: the same model with PyTorch's network part and losses.
                double torchReference = tnet + torch["losses"] + r.SeedsSequential1 + r.Energy1;
                Console.WriteLine(FormattableString.Invariant($"  with PyTorch's network part and CE/classification: reference step {torchReference:F1} ms -> ours {whole / torchReference:F2}x (goal <= 0.5: {(whole / torchReference <= 0.5 ? "met" : "NOT met")})"));

                // The reference design proper: PyTorch for the network, and the original C++ dense CRF (pydensecrf)
                // and the RRM authors' bilateral filter for seeds and energy, one image at a time on one core. Their
                // times on this machine are documented with the fixtures (shared/data/fixtures/crf/README.md); the
                // stand-in above uses our own CRF at 1 thread, which is 2.6x faster than the original, so it
                // understates the reference's step.
                var (crfs, filter) = OriginalImplementationsMs(o, batch, classCount);
                double original = tnet + torch["losses"] + crfs + filter;
                Console.WriteLine("  reference design with the original implementations' documented times (1 thread, this machine):");
                Console.WriteLine(FormattableString.Invariant($"    seeds: {2 * o.Batch} dense CRFs (two per image, bg + its classes) {crfs,10:F1} ms"));
                Console.WriteLine(FormattableString.Invariant($"    energy: bilateral filter                  {filter,10:F1} ms"));
                Console.WriteLine(FormattableString.Invariant($"    reference step (PyTorch network + losses) {original,10:F1} ms -> ours {whole / original:F2}x (goal <= 0.5: {(whole / original <= 0.5 ? "met" : "NOT met")})"));
            }
        }

        Console.WriteLine($"Load average at end: {LoadAverage()}");
        return 0;
    }

    private static void PrintRow(string name, double ms, double? torch)
    {
        string t = torch is { } v ? v.ToString("F1", CultureInfo.InvariantCulture) : "-";
        string ratio = torch is { } w && w > 0 ? (ms / w).ToString("F2", CultureInfo.InvariantCulture) : "-";
        Console.WriteLine(FormattableString.Invariant($"{name,-34} {ms,10:F1} {t,11} {ratio,7}"));
    }

    /// <summary>Runs the trainer and returns the median milliseconds of each part after warm-up (and the last batch's data).</summary>
    private static Dictionary<string, double> MeasureSteps(Settings o, out List<LabelledImage>? images, out int classes)
    {
        TorchEngine.Threads = o.Threads;
        var (data, loaded) = LoadData(o, o.Batch * (o.Warmup + o.Steps));
        images = loaded;
        classes = data.ClassNames.Count;
        var timings = new List<StepTimings>();
        var options = TrainingOptions(o, o.Warmup + o.Steps);
        var progress = new SyncProgress(p =>
        {
            if (p.Iteration > o.Warmup)
            {
                timings.Add(p.Timings);
            }
        });
        using (var model = new RrmTrainer(options).Train(data, progress))
        {
        }

        return new Dictionary<string, double>
        {
            ["data"] = Median(timings.Select(t => t.Data)),
            ["forward"] = Median(timings.Select(t => t.Forward)),
            ["cam"] = Median(timings.Select(t => t.Cam)),
            ["seeds"] = Median(timings.Select(t => t.Seeds)),
            ["losses"] = Median(timings.Select(t => t.Losses)),
            ["backward"] = Median(timings.Select(t => t.Backward)),
            ["optimizer"] = Median(timings.Select(t => t.Optimizer)),
            ["total"] = Median(timings.Select(t => t.Total)),
        };
    }

    /// <summary>
    /// The ResNet-18 the trainer builds here: ML.NET's ONNX network (2, 2, 2, 3 blocks) when its package is found, as a
    /// user of the small-dataset recipe trains it, else torchvision's (2, 2, 2, 2) with random weights. PyTorch gets the same.
    /// </summary>
    private static IReadOnlyList<int> ResNet18Blocks() => OnnxWeights.FindResNet18() is null ? ResNet18.TorchvisionBlocks : ResNet18.MLNetBlocks;

    private static RrmTrainingOptions TrainingOptions(Settings o, int iterations) => new()
    {
        Backbone = o.Backbone,
        // Only time matters; ResNet18 still takes the packaged network when there is one (ResNet18Blocks).
        UsePackagedWeights = o.Backbone == BackboneKind.ResNet18 && OnnxWeights.FindResNet18() is not null,
        BackboneWidth = o.Backbone == BackboneKind.MobileNetV1 ? o.Width : 1.0,
        BatchSize = o.Batch,
        CropSize = o.Crop,
        Iterations = iterations,
        Threads = o.Threads,
        Energy = new DenseEnergyLossOptions { Threads = o.Threads },
        ProgressInterval = 1,
        Seed = 1,
    };

    private static (IWeakDataset Data, List<LabelledImage> Images) LoadData(Settings o, int needed)
    {
        // Images are decoded once up front: the benchmark measures the step, not JPEG decoding.
        // ../shared/data from the repository root; a git worktree one level deeper looks one level higher.
        string root = Path.Combine(RepoRoot() ?? ".", "..", "shared", "data", "coco128-voc");
        if (!Directory.Exists(root))
        {
            root = Path.GetFullPath(Path.Combine(RepoRoot() ?? ".", "..", "..", "shared", "data", "coco128-voc"));
        }

        var images = new List<LabelledImage>();
        IReadOnlyList<string> classNames;
        if (!o.Synthetic && Directory.Exists(root))
        {
            var voc = ImageDataset.LoadVoc(root, new VocDatasetOptions());
            classNames = voc.ClassNames;
            for (int i = 0; i < Math.Min(voc.Count, Math.Max(needed, 1)); i++)
            {
                images.Add(voc[i].Load(ImageCodec.Decode, withMask: false));
            }
        }
        else
        {
            if (!o.Synthetic)
            {
                Console.WriteLine($"({root} not found: using synthetic images.)");
            }

            var synthetic = new SyntheticDataset(new SyntheticDatasetOptions { ImageSize = Math.Max(o.Crop, 32), ClassCount = SyntheticDataset.MaxClassCount, MinVisiblePixels = 8, Seed = 3 }, Math.Min(Math.Max(needed, 1), 200));
            classNames = synthetic.ClassNames;
            images.AddRange(synthetic);
        }

        return (WeakDataset.From(images, classNames), images);
    }

    /// <summary>
    /// Times of the original implementations for this batch, from the medians documented with the fixtures
    /// (1 thread, this machine): the dense CRF, 10 iterations at 321x321, takes 156 ms with 3 labels and 363 ms
    /// with 21 (interpolated linearly in the label count, scaled linearly in pixels: at 500x375 that predicts
    /// 284 ms against the measured 330, so it understates the reference); the authors' bilateral filter takes
    /// 95 ms for 4 images x 21 channels at 160x160 (scaled linearly in images, channels and pixels).
    /// </summary>
    private static (double Crfs, double Filter) OriginalImplementationsMs(Settings o, List<LabelledImage> images, int classes)
    {
        double pixels = (double)o.Crop * o.Crop / (321.0 * 321.0);
        double crfs = 0;
        for (int b = 0; b < o.Batch; b++)
        {
            int labels = 1 + images[b % images.Count].Labels.Distinct().Count();
            crfs += 2 * (156.0 + ((labels - 3) * (363.0 - 156.0) / 18.0)) * pixels;
        }

        double half = (o.Crop / 2) * (o.Crop / 2) / (160.0 * 160.0);
        double filter = 95.0 * (o.Batch / 4.0) * ((classes + 1) / 21.0) * half;
        return (crfs, filter);
    }

    /// <summary>Seeds and energy loss of one batch at 1 thread (images one at a time) and at the benchmark's thread count.</summary>
    private static (double SeedsSequential1, double SeedsParallel, double Energy1, double EnergyParallel) MeasureSeedsAndEnergy(Settings o, List<LabelledImage> images, int classes)
    {
        int n = o.Batch, s = o.Crop;
        var rng = new Random(7);
        var crops = new RgbImage[n];
        var valid = new byte[n][];
        var multiHot = new float[n * classes];
        for (int b = 0; b < n; b++)
        {
            var item = images[b % images.Count];
            var aug = Augmentation.Apply(item.Image, 1.0, false, s, rng);
            crops[b] = aug.Crop;
            valid[b] = aug.Valid;
            foreach (int c in item.Labels)
            {
                multiHot[(b * classes) + c] = 1;
            }
        }

        TorchEngine.Threads = o.Threads;
        float[] cams;
        using (NewDisposeScope())
        using (var network = new RrmNetwork(Backbones.Create(o.Backbone, o.Backbone == BackboneKind.MobileNetV1 ? o.Width : 1.0), classes))
        {
            var x = ImageTensors.ToTensor(crops, network.Backbone.Normalization, Devices.Cpu, valid);
            var labels = tensor(multiHot, [n, classes]);
            cams = network.MultiScaleCam(x, labels).ToArrayFast<float>();
        }

        var present = multiHot.Select(v => v > 0.5f ? (byte)1 : (byte)0).ToArray();
        int plane = s * s;
        var pixels = crops.SelectMany(c => c.Pixels).ToArray();
        var output = new byte[n * plane];
        const int repeat = 3;
        double sequential1, parallel;
        using (var seeds = new ReliableSeeds(new ReliableSeedOptions(), 1))
        {
            sequential1 = MedianOf(repeat, () =>
            {
                for (int b = 0; b < n; b++)
                {
                    seeds.ComputeBatch(pixels.AsSpan(b * plane * 3, plane * 3), 1, s, s, present.AsSpan(b * classes, classes),
                        cams.AsSpan(b * classes * plane, classes * plane), classes, output.AsSpan(b * plane, plane));
                }
            });
        }

        using (var seeds = new ReliableSeeds(new ReliableSeedOptions(), o.Threads))
        {
            parallel = MedianOf(repeat, () => seeds.ComputeBatch(pixels, n, s, s, present, cams, classes, output));
        }

        double Energy(int threads)
        {
            using var energy = new DenseEnergyLoss(new DenseEnergyLossOptions { Threads = threads });
            using var scope = NewDisposeScope();
            TorchEngine.Threads = threads;
            var probabilities = nn.functional.softmax(randn([n, classes + 1, s, s]), 1).DetachFromDisposeScope();
            var seedTensor = tensor(output, [n, s, s]).to(ScalarType.Int64);
            var crop = tensor(valid.SelectMany(v => v).ToArray(), [n, s, s]).to(ScalarType.Float32);
            try
            {
                return MedianOf(repeat, () =>
                {
                    using var inner = NewDisposeScope();
                    energy.Forward(probabilities, crops, seedTensor, crop).ToDouble();
                });
            }
            finally
            {
                probabilities.Dispose();
                TorchEngine.Threads = o.Threads;
            }
        }

        return (sequential1, parallel, Energy(1), Energy(o.Threads));
    }

    private static Dictionary<string, double>? RunPyTorch(Settings o)
    {
        string? script = RepoRoot() is { } root ? Path.Combine(root, "bench", "pytorch_step.py") : null;
        if (script is null || !File.Exists(script))
        {
            Console.WriteLine("(bench/pytorch_step.py not found next to Wsss.MLNet.sln: no PyTorch column.)");
            return null;
        }

        string python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[]
                 {
                     script, "--backbone", o.Backbone == BackboneKind.ResNet18 ? "resnet18" : "mobilenet", "--blocks", string.Join(",", ResNet18Blocks()),
                     "--width", o.Width.ToString(CultureInfo.InvariantCulture), "--batch", o.Batch.ToString(CultureInfo.InvariantCulture),
                     "--crop", o.Crop.ToString(CultureInfo.InvariantCulture), "--classes", o.Classes.ToString(CultureInfo.InvariantCulture),
                     "--threads", o.Threads.ToString(CultureInfo.InvariantCulture), "--steps", o.Steps.ToString(CultureInfo.InvariantCulture),
                     "--warmup", o.Warmup.ToString(CultureInfo.InvariantCulture),
                 })
        {
            psi.ArgumentList.Add(a);
        }

        // The same glibc allocator settings on both sides: ConfigureAllocator's mallopt values reach the Python
        // process through glibc's own environment tunables (read at its start).
        if (o.Allocator == "mallopt")
        {
            psi.Environment["MALLOC_MMAP_THRESHOLD_"] = (o.MmapThresholdMiB is { } m ? (long)m << 20 : TorchEngine.DefaultMmapThreshold).ToString(CultureInfo.InvariantCulture);
            psi.Environment["MALLOC_TRIM_THRESHOLD_"] = TorchEngine.DefaultTrimThreshold.ToString(CultureInfo.InvariantCulture);
            psi.Environment["MALLOC_TOP_PAD_"] = TorchEngine.DefaultTopPad.ToString(CultureInfo.InvariantCulture);
        }

        psi.Environment["OMP_WAIT_POLICY"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "PASSIVE";
        Console.WriteLine($"Running {python} {string.Join(' ', psi.ArgumentList)} ...");
        Console.WriteLine(o.Allocator == "mallopt"
            ? $"Allocator, both processes: glibc mmap threshold {TorchEngine.DefaultMmapThreshold >> 20} MiB, trim threshold {TorchEngine.DefaultTrimThreshold >> 20} MiB, top pad {TorchEngine.DefaultTopPad >> 20} MiB (Wsss: mallopt; PyTorch: MALLOC_*_ environment); OMP_WAIT_POLICY=" + psi.Environment["OMP_WAIT_POLICY"]
            : "Allocator, both processes: glibc defaults; OMP_WAIT_POLICY=" + psi.Environment["OMP_WAIT_POLICY"]);
        try
        {
            using var process = Process.Start(psi)!;
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.WriteLine($"(PyTorch script failed with exit code {process.ExitCode}: {stderr.Result.Trim()})");
                return null;
            }

            string line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
            using var doc = JsonDocument.Parse(line);
            var result = new Dictionary<string, double>();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind == JsonValueKind.Number)
                {
                    result[p.Name] = p.Value.GetDouble();
                }
            }

            Console.WriteLine($"PyTorch {doc.RootElement.GetProperty("torch").GetString()} with {result.GetValueOrDefault("threads")} threads.");
            return result;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or JsonException or InvalidOperationException)
        {
            Console.WriteLine($"(PyTorch script could not run: {e.Message})");
            return null;
        }
    }

    // ---------------------------------------------------------------- allocators

    private static int CompareAllocators(Settings o)
    {
        Console.WriteLine($"Allocator comparison: {o.Describe()}; medians of {o.Steps} steps after {o.Warmup} warm-up steps, each configuration in its own process.");
        Console.WriteLine($"Load average at start: {LoadAverage()}");
        var configs = new List<(string Name, string Allocator, string? Preload, string? MallocConf)>
        {
            ("glibc default", "default", null, null),
            ("glibc + ConfigureAllocator (mallopt)", "mallopt", null, null),
        };
        if (File.Exists(JemallocPath))
        {
            configs.Add(("jemalloc", "default", JemallocPath, null));
            configs.Add(("jemalloc, no decay", "default", JemallocPath, "dirty_decay_ms:-1,muzzy_decay_ms:-1"));
            configs.Add(("jemalloc, background_thread", "default", JemallocPath, "background_thread:true"));
        }

        Console.WriteLine();
        Console.WriteLine($"{"configuration",-38} {"total",8} {"forward",8} {"cam",8} {"seeds",8} {"losses",8} {"backward",8} {"optim",8} {"peak RSS MB",12}");
        foreach (var (name, allocator, preload, conf) in configs)
        {
            var child = o.ChildArguments(allocator);
            var (rc, result, peak, error) = RunChild(child, preload, conf);
            if (rc != 0 || result is null)
            {
                Console.WriteLine($"{name,-38} failed (exit {rc}): {error}");
                continue;
            }

            Console.WriteLine(FormattableString.Invariant(
                $"{name,-38} {result["total"],8:F0} {result["forward"],8:F0} {result["cam"],8:F0} {result["seeds"],8:F0} {result["losses"],8:F0} {result["backward"],8:F0} {result["optimizer"],8:F0} {peak,12:F0}"));
        }

        Console.WriteLine($"Load average at end: {LoadAverage()}");
        return 0;
    }

    private static void ApplyAllocator(string allocator, int? mmapThresholdMiB = null)
    {
        switch (allocator)
        {
            case "default":
                // Marks the allocator as configured without changing anything, so the trainer keeps glibc's defaults.
                TorchEngine.ConfigureAllocator(-1, -1, -1);
                break;
            case "mallopt":
                TorchEngine.ConfigureAllocator(mmapThreshold: mmapThresholdMiB is { } m ? (long)m << 20 : TorchEngine.DefaultMmapThreshold);
                break;
            default:
                throw new ArgumentException($"--allocator must be default or mallopt, got '{allocator}'.");
        }
    }

    private static (int ExitCode, Dictionary<string, double>? Result, double PeakRssMb, string Error) RunChild(IEnumerable<string> arguments, string? preload, string? mallocConf)
    {
        var psi = SelfStartInfo(arguments);
        if (preload is not null)
        {
            psi.Environment["LD_PRELOAD"] = preload;
        }

        if (mallocConf is not null)
        {
            psi.Environment["MALLOC_CONF"] = mallocConf;
        }

        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        double peak = 0;
        var stdout = new List<string>();
        var reader = Task.Run(() =>
        {
            while (process.StandardOutput.ReadLine() is { } line)
            {
                stdout.Add(line);
            }
        });
        while (!process.WaitForExit(500))
        {
            peak = Math.Max(peak, StatusKb(process.Id, "VmHWM:") / 1024.0);
        }

        reader.Wait();
        string? json = stdout.LastOrDefault(l => l.StartsWith(ResultPrefix, StringComparison.Ordinal));
        var result = json is null ? null : JsonSerializer.Deserialize<Dictionary<string, double>>(json[ResultPrefix.Length..]);
        return (process.ExitCode, result, peak, stderr.Result.Trim());
    }

    private static ProcessStartInfo SelfStartInfo(IEnumerable<string> arguments)
    {
        // Started either as the apphost (Wsss.Samples) or as "dotnet Wsss.Samples.dll".
        string host = Environment.ProcessPath ?? "dotnet";
        var psi = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            psi.ArgumentList.Add(typeof(TrainingBenchmark).Assembly.Location);
        }

        psi.ArgumentList.Add("bench");
        psi.ArgumentList.Add("training");
        foreach (string a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        return psi;
    }

    // ---------------------------------------------------------------- memory

    private static int RunMemory(Settings o, string[] args)
    {
        // Small defaults unless given: the point is thousands of steps in a few minutes.
        if (!args.Contains("--backbone"))
        {
            o.Backbone = BackboneKind.SmallCnn;
        }

        if (!args.Contains("--crop"))
        {
            o.Crop = 64;
        }

        if (!args.Contains("--steps"))
        {
            o.Steps = 2000;
        }

        if (!args.Contains("--warmup"))
        {
            o.Warmup = 200;
        }

        o.Synthetic = true;
        ApplyAllocator(o.Allocator, o.MmapThresholdMiB);
        TorchEngine.Threads = o.Threads;
        Console.WriteLine($"Memory benchmark: {o.Describe()}; {o.Steps} steps ({o.Warmup} of warm-up); VmRSS every {o.ReportEvery} steps.");
        Console.WriteLine($"Load average at start: {LoadAverage()}");
        var synthetic = new SyntheticDataset(new SyntheticDatasetOptions { ImageSize = o.Crop, ClassCount = 3, MinVisiblePixels = 8, Seed = 3 }, 64);
        var data = WeakDataset.From(synthetic);
        var clock = Stopwatch.StartNew();
        double warmRss = 0, lastRss = 0, maxAfterWarm = 0;
        Console.WriteLine($"{"step",6} {"VmRSS MB",9} {"managed MB",11} {"s",7}");
        var progress = new SyncProgress(p =>
        {
            if (p.Iteration % o.ReportEvery == 0 || p.Iteration == o.Warmup || p.Iteration == p.TotalIterations)
            {
                double rss = StatusKb(Environment.ProcessId, "VmRSS:") / 1024.0;
                double managed = GC.GetTotalMemory(false) / (1024.0 * 1024.0);
                Console.WriteLine(FormattableString.Invariant($"{p.Iteration,6} {rss,9:F1} {managed,11:F1} {clock.Elapsed.TotalSeconds,7:F0}"));
                if (p.Iteration == o.Warmup)
                {
                    warmRss = rss;
                }

                if (p.Iteration >= o.Warmup)
                {
                    maxAfterWarm = Math.Max(maxAfterWarm, rss);
                }

                lastRss = rss;
            }
        });
        using (new RrmTrainer(TrainingOptions(o, o.Steps)).Train(data, progress))
        {
        }

        Console.WriteLine(FormattableString.Invariant(
            $"VmRSS after warm-up (step {o.Warmup}) {warmRss:F1} MB, at the end {lastRss:F1} MB: growth {lastRss - warmRss:+0.0;-0.0} MB ({100 * (lastRss - warmRss) / Math.Max(1e-9, warmRss):+0.00;-0.00} %) over {o.Steps - o.Warmup} steps ({(lastRss - warmRss) * 1024 / Math.Max(1, o.Steps - o.Warmup):F2} KB/step); max after warm-up {maxAfterWarm:F1} MB."));
        Console.WriteLine($"Load average at end: {LoadAverage()}");
        return 0;
    }

    // ---------------------------------------------------------------- helpers

    private static double StatusKb(int pid, string key)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    return double.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
            // The process ended between two reads.
        }

        return 0;
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) + $" ({Environment.ProcessorCount} cores)";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0)
        {
            return double.NaN;
        }

        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
    }

    private static double MedianOf(int repeat, Action action)
    {
        action();
        var times = new List<double>();
        for (int i = 0; i < repeat; i++)
        {
            var w = Stopwatch.StartNew();
            action();
            times.Add(w.Elapsed.TotalMilliseconds);
        }

        return Median(times);
    }

    private static string? RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Wsss.MLNet.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    internal static BackboneKind ParseBackbone(string text) => text.ToLowerInvariant() switch
    {
        "mobilenet" or "mobilenetv1" => BackboneKind.MobileNetV1,
        "resnet18" => BackboneKind.ResNet18,
        "resnet38" => BackboneKind.ResNet38,
        "resnet50" => BackboneKind.ResNet50,
        "resnet101" => BackboneKind.ResNet101,
        "smallcnn" => BackboneKind.SmallCnn,
        _ => throw new ArgumentException($"Unknown backbone '{text}' (mobilenet, resnet18, resnet38, resnet50, resnet101, smallcnn)."),
    };

    /// <summary>Runs the callback on the reporting thread (Progress&lt;T&gt; would post it elsewhere).</summary>
    private sealed class SyncProgress(Action<TrainingProgress> callback) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => callback(value);
    }

    private sealed class Settings
    {
        public BackboneKind Backbone { get; set; } = BackboneKind.MobileNetV1;

        public double Width { get; set; } = 0.75;

        public int Batch { get; set; } = 4;

        public int Crop { get; set; } = 321;

        public int Threads { get; set; } = 2;

        public int Steps { get; set; } = 10;

        // Eight: the first steps still grow the heap the 1 GiB mmap threshold retains and fault its pages in (an early
        // step's multi-scale CAM took 19,710 page faults, a later one 32), which with 5 warm-up steps made TorchSharp
        // look 1.15x the old engine; after 8 the two are level (docs/PERFORMANCE.md).
        public int Warmup { get; set; } = 8;

        public int ReportEvery { get; set; } = 100;

        public bool Synthetic { get; set; }

        public bool PyTorch { get; set; } = true;

        public bool Reference { get; set; } = true;

        public bool CompareAllocators { get; set; }

        public string Allocator { get; set; } = "mallopt";

        /// <summary>glibc's mmap threshold for the mallopt allocator, MiB (default: TorchEngine's).</summary>
        public int? MmapThresholdMiB { get; set; }

        public bool Memory { get; set; }

        public bool Child { get; set; }

        /// <summary>Foreground classes of coco128-voc (VOC's 20; 21 with background).</summary>
        public int Classes => 20;

        public string Describe() => FormattableString.Invariant(
            $"{Backbone}{(Backbone == BackboneKind.MobileNetV1 ? $" {Width}" : "")}, batch {Batch}, crop {Crop}, {Threads} threads, {Environment.ProcessorCount} cores");

        public IEnumerable<string> ChildArguments(string allocator)
        {
            var a = new List<string>
            {
                "--child", "--allocator", allocator, "--backbone", Backbone.ToString(), "--width", Width.ToString(CultureInfo.InvariantCulture),
                "--batch", Batch.ToString(CultureInfo.InvariantCulture), "--crop", Crop.ToString(CultureInfo.InvariantCulture),
                "--threads", Threads.ToString(CultureInfo.InvariantCulture), "--steps", Steps.ToString(CultureInfo.InvariantCulture),
                "--warmup", Warmup.ToString(CultureInfo.InvariantCulture),
            };
            if (Synthetic)
            {
                a.Add("--synthetic");
            }

            return a;
        }
    }
}
