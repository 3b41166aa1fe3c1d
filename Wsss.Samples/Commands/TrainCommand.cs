using System.CommandLine;
using System.Diagnostics;
using Wsss.Data;
using Wsss.Model;
using Wsss.Training;

namespace Wsss.Samples.Commands;

/// <summary>
/// `train`: RRM on a dataset with image-level labels, writing a model file (checkpointed, cancellable); with --masks,
/// the same network trained on masks instead (the two-step variant's second step on the pseudo masks `seeds` wrote).
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var defaults = new RrmTrainingOptions();
        var small = RrmRecipe.SmallDataset();
        var recipe = new Option<string>("--recipe")
        {
            Description = $"Starting settings: {RrmRecipe.ReferenceName} (RRM's: 20,000 iterations, fine-tuned backbone) or {RrmRecipe.SmallDatasetName} " +
                          $"(tens to hundreds of images: {small.Backbone} with ML.NET's ImageNet weights kept fixed, {small.Iterations} iterations, crop {small.CropSize}; see docs/QUALITY.md). " +
                          "Options given explicitly override the recipe's values. Default reference.",
            DefaultValueFactory = _ => RrmRecipe.ReferenceName,
        };
        recipe.AcceptOnlyFromAmong([.. RrmRecipe.Names]);
        var backbone = new Option<BackboneKind>("--backbone") { Description = "Backbone: SmallCnn (from scratch), MobileNetV1, ResNet18, ResNet38, ResNet50 or ResNet101. Default MobileNetV1 (small-dataset: ResNet18).", DefaultValueFactory = _ => defaults.Backbone };
        var weights = new Option<string?>("--weights") { Description = "Pretrained backbone weights: a TensorFlow.js model.json (MobileNetV1), ML.NET's ResNet-18 .onnx, a torchvision .pth (ResNet18/50/101) or a safetensors file with the backbone's parameter names. ResNet18 without it takes ML.NET's packaged ONNX weights." };
        var width = new Option<double>("--width") { Description = "MobileNetV1 width multiplier (1.0, 0.75, 0.5, 0.25); must match --weights. Default 1.0.", DefaultValueFactory = _ => defaults.BackboneWidth };
        var iterations = new Option<int>("--iterations") { Description = $"Training iterations (one batch each). Default {defaults.Iterations}.", DefaultValueFactory = _ => defaults.Iterations };
        var batch = new Option<int>("--batch") { Description = $"Images per batch. Default {defaults.BatchSize}.", DefaultValueFactory = _ => defaults.BatchSize };
        var maxSide = new Option<int>("--max-side") { Description = $"Scale training images (and masks) larger than this longer side, in pixels, down to it; the model keeps the value and predict, evaluate and seeds use it. 0 = images as they are. Default {defaults.MaxImageSide} (small-dataset: {small.MaxImageSide}).", DefaultValueFactory = _ => defaults.MaxImageSide };
        var crop = new Option<int>("--crop") { Description = $"Square training crop in pixels. Default {defaults.CropSize}.", DefaultValueFactory = _ => defaults.CropSize };
        var lr = new Option<double>("--lr") { Description = $"Base learning rate (backbone weights; new heads x10). Default {defaults.BaseLearningRate}.", DefaultValueFactory = _ => defaults.BaseLearningRate };
        var momentum = new Option<double>("--momentum") { Description = $"SGD momentum. Default {defaults.Momentum}.", DefaultValueFactory = _ => defaults.Momentum };
        var backboneLr = new Option<double>("--backbone-lr-factor") { Description = $"Factor on the backbone's learning rates (0 keeps the pretrained backbone fixed, which helps on very small datasets). Default {defaults.BackboneLearningRateFactor}.", DefaultValueFactory = _ => defaults.BackboneLearningRateFactor };
        var warmup = new Option<double>("--warmup") { Description = $"Share of the iterations trained on the classification loss alone before seeds start (0..1). Default {defaults.ClassificationWarmupFraction}.", DefaultValueFactory = _ => defaults.ClassificationWarmupFraction };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint file: written every --checkpoint-interval iterations and on Ctrl+C, resumed when it exists." };
        var checkpointInterval = new Option<int>("--checkpoint-interval") { Description = $"Iterations between checkpoints. Default {defaults.CheckpointInterval}.", DefaultValueFactory = _ => defaults.CheckpointInterval };
        var output = new Option<string>("--output", "-o") { Description = "Model file to write. Default model.safetensors.", DefaultValueFactory = _ => "model.safetensors" };
        var command = new Command("train", "Train RRM on images with image-level labels (a VOC folder or an image folder + labels CSV) and write the model file. " +
                                           "With --masks, train the same network's segmentation branch on those masks instead (cross-entropy, 255 ignored): the two-step variant's second step on the pseudo/ folder `seeds` writes.")
        {
            recipe, backbone, weights, width, iterations, batch, crop, maxSide, lr, backboneLr, momentum, warmup, checkpoint, checkpointInterval, output,
        };
        var data = DatasetOptions.AddTo(command, withMasks: true, withClasses: true);
        var common = CommonOptions.AddTo(command);
        command.SetAction(parse => Cli.Guard(() =>
        {
            var settings = common.Read(parse);
            settings.Apply();
            // The recipe's values, then every option the command line names explicitly (its defaults are the reference's).
            var options = RrmRecipe.Create(parse.GetValue(recipe)!);
            void Set<T>(Option<T> option, Action<T> apply)
            {
                if (parse.GetResult(option) is { Implicit: false })
                {
                    apply(parse.GetValue(option)!);
                }
            }

            Set(backbone, v => options.Backbone = v);
            Set(weights, v => options.PretrainedWeightsPath = v);
            Set(width, v => options.BackboneWidth = v);
            Set(iterations, v => options.Iterations = v);
            Set(batch, v => options.BatchSize = v);
            Set(crop, v => options.CropSize = v);
            Set(maxSide, v => options.MaxImageSide = v);
            Set(lr, v => options.BaseLearningRate = v);
            Set(momentum, v => options.Momentum = v);
            Set(backboneLr, v => options.BackboneLearningRateFactor = v);
            Set(warmup, v => options.ClassificationWarmupFraction = v);
            options.CheckpointPath = parse.GetValue(checkpoint);
            options.CheckpointInterval = parse.GetValue(checkpointInterval);
            options.Threads = settings.ThreadCount;
            options.Device = settings.Device;
            options.Seed = settings.Seed;
            if (options.PretrainedWeightsPath is { } w && !File.Exists(w))
            {
                throw new FileNotFoundException($"--weights: file not found: {Path.GetFullPath(w)}");
            }

            options.Validate();
            string modelPath = Path.GetFullPath(parse.GetValue(output)!);
            bool onMasks = data.HasMasks(parse);
            if (onMasks && parse.GetResult(warmup) is { Implicit: false })
            {
                Console.Error.WriteLine("note: --warmup does not apply with --masks (no classification branch, seeds or energy loss are trained).");
            }

            var dataset = data.Load(parse, requireMasks: onMasks);
            Console.WriteLine($"train{(onMasks ? " on masks" : string.Empty)}: {dataset.Count} images, {dataset.ClassNames.Count} classes, recipe {parse.GetValue(recipe)}, {options.Backbone}{(options.PretrainedWeightsPath is null ? (options.Backbone == BackboneKind.ResNet18 && options.UsePackagedWeights ? " (ML.NET's packaged ImageNet weights)" : " (random init)") : $" from {options.PretrainedWeightsPath}")}, {options.Iterations} iterations x {options.BatchSize}, crop {options.CropSize}{(options.MaxImageSide > 0 ? $" of images at most {options.MaxImageSide} px" : string.Empty)}, device {settings.Device}, {settings.ThreadCount} threads");
            using var cancel = new CancellationTokenSource();
            using var ctrlC = Cli.CancelOnCtrlC(cancel);
            var clock = Stopwatch.StartNew();
            var run = new TrainingRun();
            try
            {
                var display = new ProgressDisplay(settings.NoProgress);
                using var model = onMasks
                    ? run.TrainOnMasks(options, WeakDataset.From(dataset), display, cancel.Token)
                    : run.Train(options, WeakDataset.From(dataset), display, cancel.Token);
                model.Save(modelPath);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine(options.CheckpointPath is null
                    ? "cancelled; nothing saved (use --checkpoint to keep progress)."
                    : $"cancelled; checkpoint kept: {Path.GetFullPath(options.CheckpointPath)} (run the same command to resume).");
                return Cli.CancelledExitCode;
            }

            var last = run.History.Count > 0 ? run.History[^1] : null;
            Console.WriteLine(FormattableString.Invariant($"trained in {clock.Elapsed.TotalSeconds:F0} s{(last is null ? string.Empty : $", final loss {last.Loss:F4}")}; model: {modelPath}"));
            return 0;
        }));
        return command;
    }
}
