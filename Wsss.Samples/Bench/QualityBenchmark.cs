using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Wsss.Data;
using Wsss.Evaluation;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Samples.Report;
using Wsss.Seeds;
using TorchSharp;
using Wsss.Engine;
using static TorchSharp.torch;
using Wsss.Training;

namespace Wsss.Samples.Bench;

/// <summary>
/// Quality of the RRM trainer (issue 5 item 5), printed as a table of measured figures and goals.
/// <list type="bullet">
/// <item><c>synthetic</c>: SmallCnn from scratch on the synthetic set (3 classes, 96x96). mIoU of the predicted
/// masks on held-out and on training images; the same network trained fully supervised on the true masks
/// for the same CPU time, and the ratio; seed quality (precision / coverage of the reliable pixels of the
/// final model's multi-scale CAMs + reliable seeds on the training images).</item>
/// <item><c>ablations</c>: the synthetic run without the energy loss and without CRFs in the seeds.</item>
/// <item><c>coco</c>: coco128-voc with the ImageNet MobileNetV1 0.75 backbone: CAM baseline (best background
/// threshold of a sweep), reliable seeds, final masks, all on the training images.</item>
/// <item><c>all</c>: the three.</item>
/// </list>
/// Usage: quality {synthetic|ablations|coco|all} [--iterations N] [--coco-iterations N] [--threads 2]
/// [--set Option=Value ...] [--coco-set Option=Value ...] [--train N] [--test N] [--max-side 320] [--crf]
/// [--no-supervised] [--data DIR] [--weights model.json] [--dump DIR].
/// Times: wall clock and process CPU time (on a loaded machine the CPU time is the better guide).
/// </summary>
internal static class QualityBenchmark
{
    private static readonly List<(string Section, string Name, string Value, string Goal)> Rows = [];

    public static int Run(string[] args)
    {
        if (args.Length == 0)
        {
            return Usage("missing mode");
        }

        var settings = new Settings();
        string mode = args[0];
        for (int i = 1; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--iterations": settings.Iterations = Int(Next()); break;
                case "--coco-iterations": settings.CocoIterations = Int(Next()); break;
                case "--resnet-weights": settings.ResNetWeights = Next(); break;
                case "--threads": settings.Threads = Int(Next()); break;
                case "--train": settings.TrainCount = Int(Next()); break;
                case "--test": settings.TestCount = Int(Next()); break;
                case "--max-side": settings.MaxSide = Int(Next()); break;
                case "--max-images": settings.MaxImages = Int(Next()); break;
                case "--set": settings.Overrides.Add(Next()); break;
                case "--coco-set": settings.CocoOverrides.Add(Next()); break;
                case "--crf": settings.InferenceCrf = true; break;
                case "--no-supervised": settings.Supervised = false; break;
                case "--data": settings.CocoRoot = Next(); break;
                case "--weights": settings.Weights = Next(); break;
                case "--dump": settings.Dump = Next(); break;
                case "--backbone": settings.Backbone = TrainingBenchmark.ParseBackbone(Next()); break;
                case "--recipe": settings.Recipe = Next(); break;
                case "--seed-sweep": settings.SeedSweep = true; break;
                case "--seed-sweep-background": settings.SeedSweepBackground = true; break;
                case "--inference-variants": settings.InferenceVariants = true; break;
                case "--two-step": settings.TwoStep = true; break;
                case "--save-model": settings.SaveModel = Next(); break;
                case "--pseudo-sweep": settings.PseudoSweep = true; break;
                case "--pseudo-cam-weight": settings.PseudoCamWeight = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--pseudo-cam-threshold": settings.PseudoCamThreshold = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--pseudo-cam-scales": settings.PseudoCamScales = Next().Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--two-step-iterations": settings.TwoStepIterations = Int(Next()); break;
                case "--load-model": settings.LoadModel = Next(); break;
                default: return Usage($"unknown argument '{args[i]}'");
            }
        }

        TorchEngine.Threads = settings.Threads;
        Console.WriteLine($"Quality benchmark '{mode}': {Environment.ProcessorCount} cores visible, {settings.Threads} threads, load average {LoadAverage()}.");
        switch (mode)
        {
            case "synthetic": Synthetic(settings, ablations: false); break;
            case "ablations": Synthetic(settings, ablations: true, main: false); break;
            case "coco": Coco(settings); break;
            case "all":
                Synthetic(settings, ablations: true);
                Coco(settings);
                break;
            default: return Usage($"unknown mode '{mode}'");
        }

        PrintTable();
        return 0;
    }

    private static int Usage(string problem)
    {
        Console.Error.WriteLine($"{problem}. Usage: quality {{synthetic|ablations|coco|all}} [--iterations N] [--coco-iterations N] [--threads N] " +
                                "[--set Option=Value] [--coco-set Option=Value (Seeds.X=V for seed thresholds)] [--train N] [--test N] [--max-side N] [--crf] [--no-supervised] [--data DIR] " +
                                "[--weights model.json] [--dump DIR] [--backbone mobilenet|resnet18] [--recipe reference|small-dataset] [--resnet-weights FILE] [--seed-sweep] [--inference-variants] [--two-step] [--save-model FILE] [--load-model FILE] [--pseudo-sweep] [--seed-sweep-background] [--pseudo-cam-weight W] [--pseudo-cam-threshold T] [--pseudo-cam-scales 0.5,1.5] [--two-step-iterations N]");
        return 2;
    }

    private sealed class Settings
    {
        public int Iterations { get; set; } = 750;

        /// <summary>coco iterations; null: the recipe's (100 for the reference recipe's short run).</summary>
        public int? CocoIterations { get; set; }

        /// <summary>coco backbone: MobileNetV1 0.75 (TF.js weights) or ResNet18 (ML.NET's ONNX weights).</summary>
        public BackboneKind Backbone { get; set; } = BackboneKind.MobileNetV1;

        /// <summary>coco recipe: "reference" (run B: the reference's settings, 100 iterations, crop 225) or "small-dataset".</summary>
        public string Recipe { get; set; } = RrmRecipe.ReferenceName;

        /// <summary>ResNet-18 weights; null: the packaged ONNX file.</summary>
        public string? ResNetWeights { get; set; }

        /// <summary>Seed quality of several seed settings on the final CAMs (cheap: the CAMs are computed once).</summary>
        public bool SeedSweep { get; set; }

        /// <summary>Seed quality of looser sure-background rules with stricter foreground ones (scale-1 CAMs only).</summary>
        public bool SeedSweepBackground { get; set; }

        /// <summary>Final masks also with multi-scale, flip, and both (the inference-time averaging question).</summary>
        public bool InferenceVariants { get; set; }

        /// <summary>The two-step variant: a fully supervised network trained on the model's pseudo masks (labels + CRF).</summary>
        public bool TwoStep { get; set; }

        /// <summary>coco: pseudo masks from CAMs (+ CRF, image labels), alone and mixed with the segmentation branch, for several settings.</summary>
        public bool PseudoSweep { get; set; }

        /// <summary>coco pseudo masks (and the two-step variant's labels): CAM weight, background threshold and extra CAM scales; null: the recipe's.</summary>
        public double? PseudoCamWeight { get; set; }

        public double? PseudoCamThreshold { get; set; }

        public double[]? PseudoCamScales { get; set; }

        /// <summary>coco two-step: iterations of the supervised second step; null: the weak run's, stopped at its CPU time.</summary>
        public int? TwoStepIterations { get; set; }

        /// <summary>coco: write the weakly trained model here (to evaluate it again with --load-model).</summary>
        public string? SaveModel { get; set; }

        /// <summary>coco: evaluate this saved model instead of training one (the options still describe its recipe).</summary>
        public string? LoadModel { get; set; }

        public int Threads { get; set; } = 2;

        public int TrainCount { get; set; } = 300;

        public int TestCount { get; set; } = 100;

        public int MaxSide { get; set; } = 320;

        public int MaxImages { get; set; } = int.MaxValue;

        public bool InferenceCrf { get; set; }

        public bool Supervised { get; set; } = true;

        public List<string> Overrides { get; } = [];

        public List<string> CocoOverrides { get; } = [];

        public string CocoRoot { get; set; } = Path.Combine("..", "shared", "data", "coco128-voc");

        /// <summary>Folder for coco diagnostic strips (image, truth, CAM of each labelled class, seeds, prediction); null: none.</summary>
        public string? Dump { get; set; }

        public string Weights { get; set; } = Path.Combine("..", "shared", "data", "weights", "mobilenet_v1_0.75_224", "model.json");
    }

    // ---------------------------------------------------------------- synthetic

    /// <summary>
    /// The synthetic recipe: SmallCnn from scratch, crop = image size, batch 8, lr 0.01 with momentum 0.9,
    /// 30 % classification warm-up, and the energy loss scaled up by 40 for the 96-pixel crop (see
    /// <see cref="EnergyScaleFor"/>).
    /// </summary>
    private static RrmTrainingOptions SyntheticOptions(Settings s) => Apply(new RrmTrainingOptions
    {
        EnergyLossWeight = 40,
        Backbone = BackboneKind.SmallCnn,
        Iterations = s.Iterations,
        BatchSize = 8,
        CropSize = 96,
        BaseLearningRate = 0.01,
        Momentum = 0.9,
        ClassificationWarmupFraction = 0.3,
        Threads = s.Threads,
        Seed = 0,
        ProgressInterval = 25,
    }, s.Overrides);

    /// <summary>
    /// How much weaker the dense energy loss is, relative to the seeded cross-entropy, at crop
    /// <paramref name="crop"/> than at the reference's 321 crop with the same weight (1e-7). Per pixel, the
    /// energy's gradient grows with the Gaussian kernel's mass K (sxy 50 at half resolution, truncated by the
    /// crop) while the cross-entropy's shrinks with the number of pixels P, so the balance goes as K * P:
    /// about 66 at crop 96 and 3 at crop 225. The recipes use a little less than this factor (40 and 3).
    /// </summary>
    internal static double EnergyScaleFor(int crop)
    {
        static double Mass(int crop)
        {
            int half = crop / 2;
            double oneD = 0;
            for (int x = -half / 2; x < half - (half / 2); x++)
            {
                oneD += Math.Exp(-(x * (double)x) / (2 * 50.0 * 50.0));
            }

            return oneD * oneD;
        }

        return Mass(321) * 321.0 * 321.0 / (Mass(crop) * crop * (double)crop);
    }

    private static void Synthetic(Settings s, bool ablations, bool main = true)
    {
        var train = new SyntheticDataset(new SyntheticDatasetOptions { Seed = 0 }, s.TrainCount);
        var test = new SyntheticDataset(new SyntheticDatasetOptions { Seed = 1 }, s.TestCount);
        var trainImages = train.Cast<LabelledImage>().ToList();
        var testImages = test.Cast<LabelledImage>().ToList();
        var data = WeakDataset.From(train);
        Console.WriteLine($"Synthetic: {train.Count} training / {test.Count} held-out images, 96x96, classes {string.Join(", ", train.ClassNames)}.");

        double weakCpu = 0;
        double weakHeldOut = double.NaN;
        if (main)
        {
            var options = SyntheticOptions(s);
            Console.WriteLine($"RRM options: {options.ToJson()}");
            Console.WriteLine(FormattableString.Invariant($"Energy-to-seed-loss balance at crop {options.CropSize} vs 321: {EnergyScaleFor(options.CropSize):F1}x weaker at equal weight."));
            var (model, wall, cpu) = TrainWeak(options, data);
            weakCpu = cpu;
            using (model)
            {
                const string sec = "synthetic RRM (SmallCnn)";
                Row(sec, "training", $"{options.Iterations} it x {options.BatchSize}, wall {wall:F0} s, CPU {cpu:F0} s", "<= 5 min on a quiet 2-core machine");
                var heldOut = Predicted(model, testImages, PredictionOptions.Default);
                PrintMatrix("held-out predictions", heldOut);
                weakHeldOut = heldOut.MeanIoU;
                Row(sec, "mIoU final masks, held-out", F(weakHeldOut), ">= 0.85");
                Row(sec, "mIoU final masks, training images", F(Predicted(model, trainImages, PredictionOptions.Default).MeanIoU), string.Empty);
                if (s.InferenceCrf)
                {
                    var crf = new PredictionOptions { UseCrf = true };
                    Row(sec, "mIoU final masks + CRF, held-out", F(Predicted(model, testImages, crf).MeanIoU), string.Empty);
                }

                var q = CamsAndSeeds(model, trainImages, options, thresholds: []);
                PrintMatrix("seeds on training images", q.Seeds);
                Row(sec, "seed precision (training images)", F(q.Seeds.SeedQuality.Precision), ">= 0.90");
                Row(sec, "seed coverage (training images)", F(q.Seeds.SeedQuality.Coverage), "(report)");
                Row(sec, "seed mIoU, labelled pixels only", F(q.SeedsLabelledOnly.MeanIoU), string.Empty);
            }

            if (s.Supervised)
            {
                var sup = SyntheticOptions(s);
                sup.Iterations = options.Iterations * 20; // an upper bound; the CPU budget stops it
                var clock = Stopwatch.StartNew();
                double cpu0 = CpuSeconds();
                var (supModel, done) = SupervisedTrainer.Train(data, sup, weakCpu, (it, loss) =>
                {
                    if (it % 100 == 0)
                    {
                        Console.Error.WriteLine(FormattableString.Invariant($"  supervised it {it}, CE {loss:F4}, CPU {CpuSeconds() - cpu0:F0} s"));
                    }
                });
                using (supModel)
                {
                    const string sec = "synthetic fully supervised (same net, same CPU time)";
                    double supCpu = CpuSeconds() - cpu0;
                    Row(sec, "training", $"{done} it x {sup.BatchSize}, wall {clock.Elapsed.TotalSeconds:F0} s, CPU {supCpu:F0} s", "same CPU time as RRM");
                    double full = Predicted(supModel, testImages, PredictionOptions.Default).MeanIoU;
                    Row(sec, "mIoU, held-out", F(full), string.Empty);
                    Row(sec, "ratio RRM / supervised (held-out)", F(weakHeldOut / full), ">= 0.90");
                }
            }
        }

        if (ablations)
        {
            foreach (var (name, change) in new (string, Action<RrmTrainingOptions>)[]
                     {
                         ("without energy loss (EnergyLossWeight=0)", o => o.EnergyLossWeight = 0),
                         ("without CRF in seeds (UseCrfInSeeds=false)", o => o.UseCrfInSeeds = false),
                     })
            {
                var options = SyntheticOptions(s);
                change(options);
                Console.WriteLine($"Ablation {name}");
                var (model, wall, cpu) = TrainWeak(options, data);
                using (model)
                {
                    string sec = $"synthetic ablation: {name}";
                    Row(sec, "training", $"{options.Iterations} it, wall {wall:F0} s, CPU {cpu:F0} s", string.Empty);
                    Row(sec, "mIoU final masks, held-out", F(Predicted(model, testImages, PredictionOptions.Default).MeanIoU), string.Empty);
                    var q = CamsAndSeeds(model, trainImages, options, thresholds: []);
                    Row(sec, "seed precision / coverage", $"{F(q.Seeds.SeedQuality.Precision)} / {F(q.Seeds.SeedQuality.Coverage)}", string.Empty);
                }
            }
        }
    }

    // ---------------------------------------------------------------- coco

    /// <summary>
    /// The coco options: the recipe (<c>reference</c>: run "B" of docs/QUALITY.md, the reference's settings shortened to
    /// 100 iterations at crop 225 with lr 1e-3, classification alone for the first half as the spec's recipe for an
    /// ImageNet-only backbone, energy x3 for the crop; <c>small-dataset</c>: <see cref="RrmRecipe.SmallDataset"/> as
    /// it is), the backbone and its weights, then --coco-iterations and --coco-set.
    /// </summary>
    private static RrmTrainingOptions CocoOptions(Settings s)
    {
        RrmTrainingOptions o;
        if (s.Recipe.Equals(RrmRecipe.ReferenceName, StringComparison.OrdinalIgnoreCase))
        {
            o = RrmRecipe.Reference();
            o.Iterations = 100;
            o.CropSize = 225;
            o.BaseLearningRate = 0.001;
            o.Momentum = 0;
            o.ClassificationWarmupFraction = 0.5;
            o.EnergyLossWeight = 3;
        }
        else
        {
            o = RrmRecipe.Create(s.Recipe);
        }

        o.Backbone = s.Backbone;
        o.BackboneWidth = s.Backbone == BackboneKind.MobileNetV1 ? 0.75 : 1.0;
        o.PretrainedWeightsPath = s.Backbone == BackboneKind.MobileNetV1 ? s.Weights : s.ResNetWeights;
        o.Threads = s.Threads;
        o.Seed = 0;
        o.ProgressInterval = 10;
        if (s.CocoIterations is int n)
        {
            o.Iterations = n;
        }

        return Apply(o, s.CocoOverrides);
    }

    private static void Coco(Settings s)
    {
        bool mobileNet = s.Backbone == BackboneKind.MobileNetV1;
        string? weights = mobileNet ? s.Weights : s.ResNetWeights ?? OnnxWeights.FindResNet18();
        if (!Directory.Exists(s.CocoRoot) || weights is null || !File.Exists(weights))
        {
            Console.WriteLine($"coco: skipped, '{s.CocoRoot}' or the {s.Backbone} weights ('{weights}') are missing.");
            Row("coco128-voc", "skipped", "data or weights missing", string.Empty);
            return;
        }

        var dataset = ImageDataset.LoadVoc(s.CocoRoot);
        var images = new List<LabelledImage>(dataset.Count);
        foreach (var item in dataset.Take(s.MaxImages))
        {
            images.Add(item.Load(ImageCodec.Decode).Downscaled(s.MaxSide));
        }

        var data = WeakDataset.From(images, dataset.ClassNames);
        foreach (var item in images.Take(4))
        {
            Console.WriteLine($"  {item.Id}: {item.Image.Width}x{item.Image.Height}, labels [{string.Join(",", item.Labels)}], mask classes [{string.Join(",", item.Mask is null ? [] : item.Mask.Labels.Distinct().Order().ToArray())}]");
        }

        var options = CocoOptions(s);
        Console.WriteLine($"coco128-voc: {images.Count} images (longer side <= {s.MaxSide}), recipe {s.Recipe}, weights {weights}, options {options.ToJson()}, seeds {options.Seeds}");
        Console.WriteLine(FormattableString.Invariant($"Energy-to-seed-loss balance at crop {options.CropSize} vs 321: {EnergyScaleFor(options.CropSize):F1}x weaker at equal weight."));
        SegmentationModel model;
        double wall = 0, cpu = 0;
        if (s.LoadModel is not null)
        {
            model = SegmentationModel.Load(s.LoadModel);
            Console.WriteLine($"coco: evaluating the saved model {s.LoadModel} (no training).");
        }
        else
        {
            (model, wall, cpu) = TrainWeak(options, data);
            if (s.SaveModel is not null)
            {
                model.Save(s.SaveModel);
            }
        }

        using (model)
        {
            string sec = $"coco128-voc, {s.Backbone}{(mobileNet ? " 0.75" : string.Empty)} ImageNet, recipe {s.Recipe}, training images";
            Row(sec, "training", $"{options.Iterations} it x {options.BatchSize} (crop {options.CropSize}), wall {wall:F0} s, CPU {cpu:F0} s, load {LoadAverage()}", "CPU <= 3600 s");
            double[] thresholds = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6];
            var q = CamsAndSeeds(model, images, options, thresholds, s.Dump);
            int best = 0;
            for (int i = 1; i < thresholds.Length; i++)
            {
                best = q.Cams[i].MeanIoU > q.Cams[best].MeanIoU ? i : best;
            }

            Row(sec, "CAM sweep (threshold: mIoU)", string.Join(" ", thresholds.Select((t, i) => FormattableString.Invariant($"{t:0.##}:{q.Cams[i].MeanIoU:F3}"))), string.Empty);
            double cam = q.Cams[best].MeanIoU;
            PrintMatrix("CAM at the best threshold", q.Cams[best]);
            PrintMatrix("seeds", q.Seeds);
            PrintSeedClasses("seeds", q.Seeds, dataset.ClassNames);
            Row(sec, $"mIoU CAM baseline (best bg threshold {thresholds[best].ToString(CultureInfo.InvariantCulture)})", F(cam), string.Empty);
            Row(sec, "seed precision / coverage", $"{F(q.Seeds.SeedQuality.Precision)} / {F(q.Seeds.SeedQuality.Coverage)}", ">= 0.85 / >= 0.30");
            Row(sec, "seed mIoU, labelled pixels only", F(q.SeedsLabelledOnly.MeanIoU), string.Empty);
            Row(sec, "seed mIoU, unlabelled = wrong", F(q.Seeds.MeanIoU), string.Empty);
            if (s.SeedSweep)
            {
                SeedSweep(model, images, options, sec);
            }

            if (s.SeedSweepBackground)
            {
                SeedSweepBackground(model, images, options, sec);
            }

            var finalMatrix = Predicted(model, images, PredictionOptions.Default);
            PrintMatrix("final masks", finalMatrix);
            double final = finalMatrix.MeanIoU;
            Row(sec, "mIoU final masks", F(final), $">= CAM + 0.03 = {F(cam + 0.03)}");
            Row(sec, "mIoU final masks, image-label classes only", F(PredictedWithinLabels(model, images).MeanIoU), string.Empty);
            if (s.InferenceCrf)
            {
                Row(sec, "mIoU final masks + CRF", F(Predicted(model, images, new PredictionOptions { UseCrf = true }).MeanIoU), string.Empty);
                var pseudo = PseudoMasks(model, images, new PredictionOptions { UseCrf = true });
                PrintMatrix("pseudo masks (image labels + CRF)", pseudo);
                Row(sec, "mIoU pseudo masks (image labels + CRF)", F(pseudo.MeanIoU), $">= CAM + 0.03 = {F(cam + 0.03)}");
                var recipePseudo = PseudoOptions(s);
                if (recipePseudo.CamWeight > 0)
                {
                    var camPseudo = PseudoMasks(model, images, recipePseudo);
                    PrintMatrix($"pseudo masks ({PseudoName(recipePseudo)})", camPseudo);
                    PrintSeedClasses($"pseudo masks ({PseudoName(recipePseudo)})", camPseudo, dataset.ClassNames);
                    Row(sec, $"mIoU pseudo masks ({PseudoName(recipePseudo)})", F(camPseudo.MeanIoU), $">= CAM + 0.03 = {F(cam + 0.03)}");
                }
            }

            if (s.PseudoSweep)
            {
                PseudoSweep(model, images, dataset.ClassNames, sec);
            }

            if (s.InferenceVariants)
            {
                foreach (var (name, prediction) in new (string, PredictionOptions)[]
                         {
                             ("flip", new PredictionOptions { Flip = true }),
                             ("scale 0.5 alone", new PredictionOptions { Scales = [0.5] }),
                             ("scale 0.75 alone", new PredictionOptions { Scales = [0.75] }),
                             ("scale 1.25 alone", new PredictionOptions { Scales = [1.25] }),
                             ("scale 1.5 alone", new PredictionOptions { Scales = [1.5] }),
                             ("scales 0.5-1.5", new PredictionOptions { Scales = [0.5, 0.75, 1.0, 1.25, 1.5] }),
                             ("scales 0.5-1.5 + flip", PredictionOptions.MultiScaleFlip),
                             ("scales 0.75-1.25 + flip", new PredictionOptions { Scales = [0.75, 1.0, 1.25], Flip = true }),
                             ("scales 1-1.5 + flip", new PredictionOptions { Scales = [1.0, 1.25, 1.5], Flip = true }),
                         })
                {
                    var matrix = Predicted(model, images, prediction);
                    Row(sec, $"mIoU final masks, {name}", F(matrix.MeanIoU), string.Empty);
                    Console.WriteLine($"  final masks, {name}: IoU per class {string.Join(" ", matrix.IoUs().Select(F))}, predicted background share {F(PredictedShare(matrix, 0))}");
                }

                Console.WriteLine($"  final masks, single scale: predicted background share {F(PredictedShare(finalMatrix, 0))}, true {F(TrueShare(finalMatrix, 0))}");
            }

            if (s.TwoStep)
            {
                TwoStep(model, images, dataset.ClassNames, options, s.TwoStepIterations is null && cpu > 0 ? cpu : null, s.TwoStepIterations, PseudoOptions(s), sec);
            }
        }

        if (s.Supervised)
        {
            // A ceiling for this network and budget: the same network, recipe and number of iterations trained on
            // the true masks (all iterations on segmentation), evaluated on the same training images.
            var clock = Stopwatch.StartNew();
            double cpu0 = CpuSeconds();
            var (supervised, done) = SupervisedTrainer.Train(data, options, null, (it, loss) =>
            {
                if (it % 25 == 0)
                {
                    Console.Error.WriteLine(FormattableString.Invariant($"  supervised it {it}, CE {loss:F4}, CPU {CpuSeconds() - cpu0:F0} s"));
                }
            });
            using (supervised)
            {
                string sec = $"coco128-voc fully supervised on the true masks ({s.Backbone}, same recipe and iterations)";
                Row(sec, "training", $"{done} it x {options.BatchSize}, wall {clock.Elapsed.TotalSeconds:F0} s, CPU {CpuSeconds() - cpu0:F0} s", "ceiling");
                var matrix = Predicted(supervised, images, PredictionOptions.Default);
                PrintMatrix("fully supervised masks", matrix);
                Row(sec, "mIoU masks, training images", F(matrix.MeanIoU), string.Empty);
            }
        }
    }

    /// <summary>
    /// Pseudo masks (image labels known) from the CAMs, the segmentation branch, or both mixed, with and without the
    /// CRF, for several CAM backgrounds and CAM scale sets: the CAMs and segmentation probabilities are computed once
    /// per image and every setting is scored on them.
    /// </summary>
    private static void PseudoSweep(SegmentationModel model, IReadOnlyList<LabelledImage> images, IReadOnlyList<string> classNames, string sec)
    {
        // The first sweep (docs/QUALITY.md, run b1) tried more: the seeds' CRF, (1 - max CAM)^a backgrounds with
        // a = 1, 2, 4 and thresholds up to 0.4 all scored lower; these are the neighbours of the best settings.
        var seedCrf = new DenseCrfOptions();
        var variants = new List<(string Name, PredictionOptions Options)>();
        foreach (double t in new[] { 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2 })
        {
            variants.Add(($"CAM t {t} + CRF", new PredictionOptions { UseCrf = true, CamWeight = 1, CamBackgroundThreshold = t }));
            variants.Add(($"CAM 0.5,1,1.5 t {t} + CRF", new PredictionOptions { UseCrf = true, CamWeight = 1, CamBackgroundThreshold = t, CamScales = [0.5, 1.5] }));
        }

        foreach (double a in new[] { 8.0, 12.0, 16.0 })
        {
            variants.Add(($"CAM power {a} + CRF", new PredictionOptions { UseCrf = true, CamWeight = 1, CamBackgroundPower = a }));
        }

        foreach (double t in new[] { 0.05, 0.1 })
        {
            variants.Add(($"CAM t {t} + seed CRF", new PredictionOptions { UseCrf = true, Crf = seedCrf, CamWeight = 1, CamBackgroundThreshold = t }));
            foreach (double w in new[] { 0.5, 0.8 })
            {
                variants.Add(($"seg + CAM w {w} t {t} + CRF", new PredictionOptions { UseCrf = true, CamWeight = w, CamBackgroundThreshold = t }));
            }
        }

        variants.Add(("CAM t 0.15, no CRF", new PredictionOptions { CamWeight = 1, CamBackgroundThreshold = 0.15 }));
        variants.Add(("seg, image labels, no CRF", new PredictionOptions()));
        variants.Add(("seg, image labels + CRF", new PredictionOptions { UseCrf = true }));
        var matrices = variants.Select(_ => new ConfusionMatrix(classNames.Count + 1)).ToArray();
        var cpu0 = CpuSeconds();
        foreach (var item in images)
        {
            bool[] keep = model.PresentWithBackground(item.Labels);
            int plane = item.Image.Height * item.Image.Width;
            float[] seg = model.Probabilities(item.Image, PredictionOptions.Default);
            var cams = new Dictionary<string, float[]>
            {
                [""] = model.ClassActivationMaps(item.Image, item.Labels, []),
                ["0.5,1.5"] = model.ClassActivationMaps(item.Image, item.Labels, [0.5, 1.5]),
            };
            for (int v = 0; v < variants.Count; v++)
            {
                var o = variants[v].Options;
                float[] p;
                if (o.CamWeight > 0)
                {
                    p = SegmentationModel.CamProbabilities(cams[string.Join(",", o.CamScales.Select(x => x.ToString(CultureInfo.InvariantCulture)))], keep, plane, o.CamBackgroundThreshold, o.CamBackgroundPower);
                    float w = (float)o.CamWeight;
                    for (int i = 0; i < p.Length && w < 1; i++)
                    {
                        p[i] = ((1 - w) * seg[i]) + (w * p[i]);
                    }
                }
                else
                {
                    p = (float[])seg.Clone();
                }

                matrices[v].Add(item.Mask!, model.RestrictedMask(item.Image, keep, p, o).Mask);
            }
        }

        Console.WriteLine(FormattableString.Invariant($"  pseudo sweep: {variants.Count} settings, CPU {CpuSeconds() - cpu0:F0} s"));
        for (int v = 0; v < variants.Count; v++)
        {
            Console.WriteLine($"  pseudo [{variants[v].Name}]: IoU per class {string.Join(" ", matrices[v].IoUs().Select(F))}");
            Row(sec, $"mIoU pseudo masks [{variants[v].Name}]", F(matrices[v].MeanIoU), string.Empty);
        }
    }

    /// <summary>Share of the valid pixels predicted as class <paramref name="c"/>.</summary>
    private static double PredictedShare(ConfusionMatrix m, int c)
    {
        long predicted = 0;
        for (int g = 0; g < m.ClassCount; g++)
        {
            predicted += m[g, c];
        }

        return (double)predicted / Math.Max(1, m.ValidPixels);
    }

    /// <summary>Share of the valid pixels whose ground truth is class <paramref name="c"/>.</summary>
    private static double TrueShare(ConfusionMatrix m, int c)
    {
        long row = 0;
        for (int p = 0; p <= m.ClassCount; p++)
        {
            row += m[c, p == m.ClassCount ? SegmentationMask.Ignore : p];
        }

        return (double)row / Math.Max(1, m.ValidPixels);
    }

    /// <summary>The two-step variant's pseudo masks: probabilities restricted to the image labels, then the CRF.</summary>
    private static ConfusionMatrix PseudoMasks(SegmentationModel model, IReadOnlyList<LabelledImage> images, PredictionOptions prediction)
    {
        var matrix = new ConfusionMatrix(model.ClassNames.Count + 1);
        foreach (var item in images)
        {
            matrix.Add(item.Mask!, model.PseudoMask(item.Image, item.Labels, prediction).Mask);
        }

        return matrix;
    }

    /// <summary>
    /// Spec section 8: the trained model's pseudo masks (image labels + CRF) become the masks of a fully supervised run
    /// of the same network and recipe for the same CPU time as the weak run, evaluated against the true masks.
    /// </summary>
    private static void TwoStep(SegmentationModel model, IReadOnlyList<LabelledImage> images, IReadOnlyList<string> classNames, RrmTrainingOptions options, double? weakCpu, int? iterations, PredictionOptions pseudoOptions, string sec)
    {
        var pseudo = images.Select(item => new LabelledImage(item.Id, item.Image, item.Labels, classNames,
            model.PseudoMask(item.Image, item.Labels, pseudoOptions).Mask)).ToList();
        var sup = Clone(options);
        sup.Iterations = iterations ?? options.Iterations;
        double cpu0 = CpuSeconds();
        var (second, done) = SupervisedTrainer.Train(WeakDataset.From(pseudo, classNames), sup, weakCpu, (it, loss) =>
        {
            if (it % 50 == 0)
            {
                Console.Error.WriteLine(FormattableString.Invariant($"  two-step it {it}, CE {loss:F4}, CPU {CpuSeconds() - cpu0:F0} s"));
            }
        });
        using (second)
        {
            string from = $"on {PseudoName(pseudoOptions)}";
            var matrix = Predicted(second, images, PredictionOptions.Default);
            PrintMatrix("two-step masks", matrix);
            Row(sec, $"mIoU two-step ({from}, {done} it, CPU {CpuSeconds() - cpu0:F0} s)", F(matrix.MeanIoU), string.Empty);
            Row(sec, "mIoU two-step + CRF", F(Predicted(second, images, new PredictionOptions { UseCrf = true }).MeanIoU), string.Empty);
            var labelled = PseudoMasks(second, images, new PredictionOptions { UseCrf = true });
            PrintMatrix("two-step, image labels + CRF", labelled);
            Row(sec, "mIoU two-step, image labels + CRF", F(labelled.MeanIoU), string.Empty);
            Row(sec, "mIoU two-step, image labels, no CRF", F(PseudoMasks(second, images, new PredictionOptions()).MeanIoU), string.Empty);
        }
    }

    /// <summary>The pseudo-mask settings of the run: the recipe's, with the --pseudo-cam-* overrides.</summary>
    private static PredictionOptions PseudoOptions(Settings s)
    {
        var recipe = RrmRecipe.PseudoMaskOptions(s.Recipe);
        return new PredictionOptions
        {
            UseCrf = recipe.UseCrf,
            Crf = recipe.Crf,
            CamWeight = s.PseudoCamWeight ?? recipe.CamWeight,
            CamBackgroundThreshold = s.PseudoCamThreshold ?? recipe.CamBackgroundThreshold,
            CamBackgroundPower = recipe.CamBackgroundPower,
            CamScales = s.PseudoCamScales ?? recipe.CamScales,
        };
    }

    private static string PseudoName(PredictionOptions o) => o.CamWeight <= 0
        ? "segmentation, image labels + CRF"
        : FormattableString.Invariant($"{(o.CamWeight >= 1 ? "CAM" : $"seg + CAM w {o.CamWeight}")} scales 1{string.Concat(o.CamScales.Select(v => FormattableString.Invariant($",{v}")))} t {o.CamBackgroundThreshold}{(o.UseCrf ? " + CRF" : string.Empty)}, image labels");

    private static RrmTrainingOptions Clone(RrmTrainingOptions o)
    {
        var copy = new RrmTrainingOptions();
        foreach (var p in typeof(RrmTrainingOptions).GetProperties().Where(p => p.CanRead && p.CanWrite))
        {
            p.SetValue(copy, p.GetValue(o));
        }

        return copy;
    }

    /// <summary>
    /// Seed precision and coverage of several reliable-region settings on the same CAMs (computed once per image), each
    /// with its per-class figures, to choose thresholds without retraining.
    /// </summary>
    private static void SeedSweep(SegmentationModel model, IReadOnlyList<LabelledImage> images, RrmTrainingOptions options, string sec)
    {
        var baseSeeds = options.Seeds;
        var variants = new List<(string Name, ReliableSeedOptions Seeds)> { ("as trained", baseSeeds) };
        foreach (float low in new[] { 4f, 8f, 16f })
        {
            foreach (float percentile in new[] { 0.6f, 0.8f })
            {
                foreach (float exponent in new[] { 1f, 0.5f })
                {
                    variants.Add(($"low {low} pct {percentile} exponent {exponent}", baseSeeds with { LowBackgroundPower = low, CamPercentile = percentile, CamExponent = exponent }));
                }
            }
        }

        variants.Add(("low 16 pct 0.6 conf 0.9", baseSeeds with { LowBackgroundPower = 16, CrfConfidence = 0.9f }));
        variants.Add(("low 16 pct 0.6 high 16", baseSeeds with { LowBackgroundPower = 16, HighBackgroundPower = 16 }));

        // With a fixed backbone the classifier never sees the seeds, so the same trained network answers for every
        // seed setting and every CAM scale set: the CAM scales are tried here too (a few seed settings each).
        var scaleSets = new List<IReadOnlyList<double>> { options.CamScales };
        foreach (IReadOnlyList<double> extra in new[] { new[] { 0.5, 1.5 }, new[] { 0.5, 1.5, 2.0 }, new[] { 1.5 } })
        {
            if (!scaleSets.Any(set => set.SequenceEqual(extra)))
            {
                scaleSets.Add(extra);
            }
        }

        for (int set = 0; set < scaleSets.Count; set++)
        {
            var scales = scaleSets[set];
            string scaleName = $"CAM scales 1{string.Concat(scales.Select(v => "," + v.ToString(CultureInfo.InvariantCulture)))}";
            var cams = SweepCams(model, images, scales);
            if (set > 0)
            {
                double[] thresholds = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3];
                var best = thresholds.Select(t => (t, CamMatrix(model, images, cams, t).MeanIoU)).MaxBy(x => x.MeanIoU);
                Row(sec, $"[{scaleName}] CAM baseline (best threshold {best.t.ToString(CultureInfo.InvariantCulture)})", F(best.MeanIoU), string.Empty);
            }

            foreach (var (name, seedOptions) in set == 0 ? variants : variants.Where(v => v.Name is "as trained" or "low 16 pct 0.6 exponent 1" or "low 8 pct 0.8 exponent 1"))
            {
                var matrix = new ConfusionMatrix(model.ClassNames.Count + 1);
                using var seeds = new ReliableSeeds(seedOptions, options.Threads);
                for (int i = 0; i < images.Count; i++)
                {
                    matrix.Add(images[i].Mask!.Labels, seeds.Compute(images[i].Image, images[i].MultiHot(model.ClassNames.Count), cams[i]));
                }

                var sq = matrix.SeedQuality;
                Console.WriteLine(FormattableString.Invariant($"  seed sweep [{scaleName}, {name}]: precision {sq.Precision:F3} coverage {sq.Coverage:F3}"));
                PrintSeedClasses($"seed sweep [{scaleName}, {name}]", matrix, model.ClassNames);
                Row(sec, $"seeds [{scaleName}, {name}] P / C", $"{F(sq.Precision)} / {F(sq.Coverage)}", string.Empty);
            }
        }
    }

    /// <summary>
    /// Seeds with a looser sure-background rule (BackgroundCamThreshold, HighBackgroundPower) and stricter foreground
    /// ones (CamPercentile, LowBackgroundPower): the background seeds are the precise ones on coco128-voc, the
    /// foreground ones the imprecise ones.
    /// </summary>
    private static void SeedSweepBackground(SegmentationModel model, IReadOnlyList<LabelledImage> images, RrmTrainingOptions options, string sec)
    {
        var b = options.Seeds;
        var variants = new List<(string Name, ReliableSeedOptions Seeds)>();
        foreach (float bgThreshold in new[] { 0.5f, 0.3f })
        {
            foreach (float percentile in new[] { 0.6f, 0.8f })
            {
                variants.Add(($"bg cam {bgThreshold} pct {percentile}", b with { BackgroundCamThreshold = bgThreshold, CamPercentile = percentile }));
                variants.Add(($"bg cam {bgThreshold} pct {percentile} high 16", b with { BackgroundCamThreshold = bgThreshold, CamPercentile = percentile, HighBackgroundPower = 16 }));
            }
        }

        variants.Add(("bg cam 0.3 pct 0.8 high 8", b with { BackgroundCamThreshold = 0.3f, CamPercentile = 0.8f, HighBackgroundPower = 8 }));
        variants.Add(("bg cam 0.3 pct 0.9", b with { BackgroundCamThreshold = 0.3f, CamPercentile = 0.9f }));
        var cams = SweepCams(model, images, options.CamScales);
        foreach (var (name, seedOptions) in variants)
        {
            var matrix = new ConfusionMatrix(model.ClassNames.Count + 1);
            using var seeds = new ReliableSeeds(seedOptions, options.Threads);
            for (int i = 0; i < images.Count; i++)
            {
                matrix.Add(images[i].Mask!.Labels, seeds.Compute(images[i].Image, images[i].MultiHot(model.ClassNames.Count), cams[i]));
            }

            PrintSeedClasses($"seed sweep [{name}]", matrix, model.ClassNames);
            Row(sec, $"seeds [{name}] P / C", $"{F(matrix.SeedQuality.Precision)} / {F(matrix.SeedQuality.Coverage)}", string.Empty);
        }
    }

    private static List<float[]> SweepCams(SegmentationModel model, IReadOnlyList<LabelledImage> images, IReadOnlyList<double> scales)
    {
        int classes = model.ClassNames.Count;
        var cams = new List<float[]>(images.Count);
        var network = model.Network;
        network.eval();
        foreach (var item in images)
        {
            using (no_grad())
            using (NewDisposeScope())
            {
                var input = ImageTensors.ToTensor([item.Image], model.Metadata.Normalization, model.Device);
                var labels = tensor(item.MultiHot(classes), [1, classes], device: model.Device);
                cams.Add(network.MultiScaleCam(input, labels, null, scales).ToArrayFast<float>());
            }
        }

        return cams;
    }

    /// <summary>The CAM baseline's masks at background threshold <paramref name="t"/>: argmax over [t, CAMs].</summary>
    private static ConfusionMatrix CamMatrix(SegmentationModel model, IReadOnlyList<LabelledImage> images, List<float[]> cams, double t)
    {
        int classes = model.ClassNames.Count;
        var matrix = new ConfusionMatrix(classes + 1);
        for (int n = 0; n < images.Count; n++)
        {
            int plane = images[n].Image.Height * images[n].Image.Width;
            var pred = new byte[plane];
            for (int i = 0; i < plane; i++)
            {
                float best = (float)t;
                for (int c = 0; c < classes; c++)
                {
                    float v = cams[n][(c * plane) + i];
                    if (v > best)
                    {
                        best = v;
                        pred[i] = (byte)(c + 1);
                    }
                }
            }

            matrix.Add(images[n].Mask!.Labels, pred);
        }

        return matrix;
    }

    /// <summary>
    /// Per class: precision (seed pixels labelled c that are c), coverage (pixels of class c that carry a seed c), and the
    /// share of all seed pixels labelled c.
    /// </summary>
    private static void PrintSeedClasses(string title, ConfusionMatrix m, IReadOnlyList<string> classNames)
    {
        long labelled = m.SeedQuality.LabelledPixels;
        var parts = new List<string>();
        for (int c = 0; c < m.ClassCount; c++)
        {
            long predicted = 0, truth = 0;
            for (int g = 0; g < m.ClassCount; g++)
            {
                predicted += m[g, c];
            }

            for (int p = 0; p <= m.ClassCount; p++)
            {
                truth += m[c, p == m.ClassCount ? SegmentationMask.Ignore : p];
            }

            if (predicted == 0 && truth == 0)
            {
                continue;
            }

            string name = c == 0 ? "background" : classNames[c - 1];
            parts.Add(FormattableString.Invariant($"{name} P {(predicted == 0 ? double.NaN : (double)m[c, c] / predicted):F2} C {(truth == 0 ? double.NaN : (double)m[c, c] / truth):F2} share {(double)predicted / Math.Max(1, labelled):F3}"));
        }

        Console.WriteLine($"  {title} per class: {string.Join("; ", parts)}");
    }

    // ---------------------------------------------------------------- shared

    private static (SegmentationModel Model, double Wall, double Cpu) TrainWeak(RrmTrainingOptions options, IWeakDataset data)
    {
        var clock = Stopwatch.StartNew();
        double cpu0 = CpuSeconds();
        var progress = new ConsoleProgress();
        var model = new RrmTrainer(options).Train(data, progress);
        return (model, clock.Elapsed.TotalSeconds, CpuSeconds() - cpu0);
    }

    private sealed class ConsoleProgress : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) =>
            Console.Error.WriteLine(FormattableString.Invariant($"  {value} | step ms: fwd {value.Timings.Forward:F0} cam {value.Timings.Cam:F0} seeds {value.Timings.Seeds:F0} loss {value.Timings.Losses:F0} bwd {value.Timings.Backward:F0} opt {value.Timings.Optimizer:F0} | load {LoadAverage()}"));
    }

    /// <summary>Confusion matrix of the model's masks (one image at a time, whole image) against the ground truth.</summary>
    private static ConfusionMatrix Predicted(SegmentationModel model, IReadOnlyList<LabelledImage> images, PredictionOptions prediction)
    {
        var matrix = new ConfusionMatrix(model.ClassNames.Count + 1);
        foreach (var item in images)
        {
            matrix.Add(item.Mask!, model.Predict(item.Image, prediction).Mask);
        }

        return matrix;
    }

    /// <summary>
    /// Pseudo-mask variant of <see cref="Predicted"/>: on training images the image-level labels are known, so
    /// the argmax runs over background and the labelled classes only (as CAM-based pseudo masks do).
    /// </summary>
    private static ConfusionMatrix PredictedWithinLabels(SegmentationModel model, IReadOnlyList<LabelledImage> images)
    {
        int k = model.ClassNames.Count + 1;
        var matrix = new ConfusionMatrix(k);
        var options = new PredictionOptions { IncludeProbabilities = true };
        foreach (var item in images)
        {
            float[] p = model.Predict(item.Image, options).Probabilities!;
            int plane = item.Image.Height * item.Image.Width;
            int[] allowed = [0, .. item.Labels.Select(c => c + 1)];
            var pred = new byte[plane];
            for (int i = 0; i < plane; i++)
            {
                int best = 0;
                foreach (int c in allowed)
                {
                    if (p[(c * plane) + i] > p[(best * plane) + i])
                    {
                        best = c;
                    }
                }

                pred[i] = (byte)best;
            }

            matrix.Add(item.Mask!.Labels, pred);
        }

        return matrix;
    }

    private sealed record CamSeedQuality(ConfusionMatrix[] Cams, ConfusionMatrix Seeds, ConfusionMatrix SeedsLabelledOnly);

    /// <summary>
    /// The final network's training-time CAMs (multi-scale, normalised, present classes only, as the trainer
    /// computes them) on whole training images in evaluation mode, turned into (a) CAM masks: argmax over
    /// [threshold, CAMs] for each background threshold, and (b) the trainer's seeds (reliable regions, or
    /// CAM seeds for the no-CRF ablation). Seed matrices: unlabelled pixels count as misses in the first, and
    /// are left out (ground truth treated as 255) in the second.
    /// </summary>
    private static CamSeedQuality CamsAndSeeds(SegmentationModel model, IReadOnlyList<LabelledImage> images, RrmTrainingOptions options, double[] thresholds, string? dump = null)
    {
        int dumped = 0;
        int classes = model.ClassNames.Count, k = classes + 1;
        var cams = thresholds.Select(_ => new ConfusionMatrix(k)).ToArray();
        var seedMatrix = new ConfusionMatrix(k);
        var labelledOnly = new ConfusionMatrix(k);
        using var seeds = new ReliableSeeds(options.Seeds, options.Threads);
        var network = model.Network;
        network.eval();
        foreach (var item in images)
        {
            int h = item.Image.Height, w = item.Image.Width, plane = h * w;
            float[] multiHot = item.MultiHot(classes);
            float[] camValues;
            using (no_grad())
            using (NewDisposeScope())
            {
                var input = ImageTensors.ToTensor([item.Image], model.Metadata.Normalization, model.Device);
                var labels = tensor(multiHot, [1, classes], device: model.Device);
                camValues = network.MultiScaleCam(input, labels, null, options.CamScales).ToArrayFast<float>();
            }

            for (int t = 0; t < thresholds.Length; t++)
            {
                var pred = new byte[plane];
                for (int i = 0; i < plane; i++)
                {
                    float best = (float)thresholds[t];
                    int arg = 0;
                    for (int c = 0; c < classes; c++)
                    {
                        float v = camValues[(c * plane) + i];
                        if (v > best)
                        {
                            best = v;
                            arg = c + 1;
                        }
                    }

                    pred[i] = (byte)arg;
                }

                cams[t].Add(item.Mask!.Labels, pred);
            }

            byte[] seed = options.UseCrfInSeeds
                ? seeds.Compute(item.Image, multiHot, camValues)
                : CamSeeds.Compute(camValues, multiHot.Select(v => v > 0.5f ? (byte)1 : (byte)0).ToArray(), h, w, options.Seeds);
            seedMatrix.Add(item.Mask!.Labels, seed);
            if (dump is not null && dumped++ < 16)
            {
                DumpStrip(dump, model, item, camValues, seed);
            }

            var gt = (byte[])item.Mask!.Labels.Clone();
            for (int i = 0; i < plane; i++)
            {
                if (seed[i] == ReliableSeeds.Ignore)
                {
                    gt[i] = SegmentationMask.Ignore;
                }
            }

            labelledOnly.Add(gt, seed);
        }

        return new CamSeedQuality(cams, seedMatrix, labelledOnly);
    }

    /// <summary>
    /// One PNG per image for looking at failures: image, ground truth, the heat map of each labelled class's
    /// normalised CAM (own maximum = red), the seeds (white = unreliable) and the model's prediction.
    /// </summary>
    private static void DumpStrip(string folder, SegmentationModel model, LabelledImage item, float[] cams, byte[] seed)
    {
        int h = item.Image.Height, w = item.Image.Width, plane = h * w;
        var panels = new List<RgbImage> { item.Image, Visuals.Colorize(item.Mask!) };
        foreach (int c in item.Labels)
        {
            panels.Add(Visuals.Heatmap(item.Image, cams.AsSpan(c * plane, plane).ToArray(), 1));
        }

        panels.Add(Visuals.Colorize(new SegmentationMask(h, w, seed)));
        panels.Add(Visuals.Colorize(model.Predict(item.Image, PredictionOptions.Default).Mask));
        var strip = new RgbImage(h, w * panels.Count);
        for (int p = 0; p < panels.Count; p++)
        {
            for (int y = 0; y < h; y++)
            {
                Array.Copy(panels[p].Pixels, y * w * 3, strip.Pixels, ((y * w * panels.Count) + (p * w)) * 3, w * 3);
            }
        }

        Directory.CreateDirectory(folder);
        string names = string.Join("+", item.Labels.Select(c => model.ClassNames[c]));
        ImageCodec.SavePng(strip, Path.Combine(folder, $"{item.Id}_{names}.png"));
    }

    /// <summary>Applies "Name=Value" overrides to the options' settable scalar properties (for experiments).</summary>
    private static RrmTrainingOptions Apply(RrmTrainingOptions options, IEnumerable<string> overrides)
    {
        foreach (string o in overrides)
        {
            int eq = o.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ArgumentException($"--set expects Name=Value, got '{o}'.");
            }

            string name = o[..eq], text = o[(eq + 1)..];
            if (name.StartsWith("Seeds.", StringComparison.Ordinal))
            {
                // Reliable-seed thresholds ("Seeds.CamPercentile=0.75"): the record's init-only properties, set on a copy.
                string seedName = name["Seeds.".Length..];
                PropertyInfo sp = typeof(ReliableSeedOptions).GetProperty(seedName) ?? throw new ArgumentException($"ReliableSeedOptions has no property '{seedName}'.");
                var copy = options.Seeds with { };
                sp.SetValue(copy, Convert.ChangeType(text, sp.PropertyType, CultureInfo.InvariantCulture));
                options.Seeds = copy;
                continue;
            }

            PropertyInfo p = typeof(RrmTrainingOptions).GetProperty(name) ?? throw new ArgumentException($"RrmTrainingOptions has no property '{name}'.");
            Type t = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
            if (t == typeof(IReadOnlyList<double>))
            {
                // "CamScales=0.5,1.5" (empty: none).
                p.SetValue(options, text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray());
                continue;
            }

            object value = t.IsEnum ? Enum.Parse(t, text, ignoreCase: true) : Convert.ChangeType(text, t, CultureInfo.InvariantCulture);
            p.SetValue(options, value);
        }

        return options;
    }

    /// <summary>Per-class IoU and the confusion matrix as row shares (ground truth rows, prediction columns, last = 255).</summary>
    private static void PrintMatrix(string title, ConfusionMatrix m)
    {
        Console.WriteLine($"  {title}: IoU per class {string.Join(" ", m.IoUs().Select(F))}");
        for (int g = 0; g < m.ClassCount; g++)
        {
            long row = 0;
            for (int p = 0; p <= m.ClassCount; p++)
            {
                row += m[g, p == m.ClassCount ? SegmentationMask.Ignore : p];
            }

            var shares = Enumerable.Range(0, m.ClassCount + 1).Select(p => F((double)m[g, p == m.ClassCount ? SegmentationMask.Ignore : p] / Math.Max(1, row)));
            Console.WriteLine($"    gt {g}: {string.Join(" ", shares)}");
        }
    }

    private static void Row(string section, string name, string value, string goal)
    {
        Rows.Add((section, name, value, goal));
        Console.WriteLine($"  [{section}] {name}: {value}{(goal.Length > 0 ? $"   (goal {goal})" : string.Empty)}");
    }

    private static void PrintTable()
    {
        Console.WriteLine();
        Console.WriteLine($"{"measure",-58} {"value",-40} goal");
        string? section = null;
        foreach (var (sec, name, value, goal) in Rows)
        {
            if (sec != section)
            {
                Console.WriteLine($"-- {sec}");
                section = sec;
            }

            Console.WriteLine($"{name,-58} {value,-40} {goal}");
        }

        Console.WriteLine($"load average at the end: {LoadAverage()}");
    }

    private static string F(double v) => v.ToString("F3", CultureInfo.InvariantCulture);

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static double CpuSeconds()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime.TotalSeconds;
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }
}
