using System.CommandLine;
using Wsss.Evaluation;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Samples.Report;
using Wsss.Training;

namespace Wsss.Samples.Commands;

/// <summary>
/// `seeds`: the two-step variant's first half in one command. For every image of a dataset, writes RRM's
/// reliable seeds (from the model's multi-scale CAMs) and the CRF-refined pseudo mask restricted to the
/// image's labelled classes, ready to train a fully supervised segmenter on.
/// </summary>
internal static class SeedsCommand
{
    public static Command Create()
    {
        var model = PredictCommand.ModelOption();
        var output = new Option<string>("--output", "-o") { Description = "Folder for seeds/{id}.png (VOC palette, 255 = unreliable shown white) and pseudo/{id}.png (VOC palette pseudo masks). Default pseudo-labels.", DefaultValueFactory = _ => "pseudo-labels" };
        var (scales, flip, crf, maxSide) = PredictCommand.PredictionOptionsFor(crfDefault: true);
        var noSeeds = new Option<bool>("--no-seeds") { Description = "Skip the reliable seeds (two CRFs per image); write only the pseudo masks." };
        var camWeight = new Option<double?>("--cam-weight") { Description = "Weight of the CAM probabilities mixed into the segmentation branch's before the CRF (0-1; 1: CAMs + CRF alone, the small-dataset recipe's pseudo masks). Default 0 (the segmentation branch, spec section 8)." };
        var camThreshold = new Option<double?>("--cam-threshold") { Description = $"Background score of the CAM probabilities (the CAM baseline's threshold). Default {RrmRecipe.SmallDatasetPseudoMasks().CamBackgroundThreshold.ToString(System.Globalization.CultureInfo.InvariantCulture)}." };
        var camScales = new Option<string?>("--cam-scales") { Description = $"Comma-separated extra CAM scales besides 1 for the CAM probabilities. Default {string.Join(",", RrmRecipe.SmallDatasetPseudoMasks().CamScales.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)))}." };
        var command = new Command("seeds", "Export reliable seeds and CRF-refined pseudo masks of a dataset with a trained model (the paper's two-step variant). Prints their quality when the dataset has masks.")
        {
            model, output, scales, flip, crf, maxSide, noSeeds, camWeight, camThreshold, camScales,
        };
        var data = DatasetOptions.AddTo(command, withMasks: true);
        var common = CommonOptions.AddTo(command, withSeed: false);
        command.SetAction(parse => Cli.Guard(() =>
        {
            var settings = common.Read(parse);
            settings.Apply();
            var read = PredictCommand.ReadPredictionOptions(parse, scales, flip, crf, maxSide);
            var camDefaults = RrmRecipe.SmallDatasetPseudoMasks();
            string? camScaleText = parse.GetValue(camScales);
            var options = new PredictionOptions
            {
                Scales = read.Scales,
                Flip = read.Flip,
                UseCrf = read.UseCrf,
                CamWeight = parse.GetValue(camWeight) ?? 0,
                CamBackgroundThreshold = parse.GetValue(camThreshold) ?? camDefaults.CamBackgroundThreshold,
                MaxImageSide = read.MaxImageSide,
                CamScales = camScaleText is null ? camDefaults.CamScales
                    : camScaleText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            };
            bool withSeeds = !parse.GetValue(noSeeds);
            string folder = Path.GetFullPath(parse.GetValue(output)!);
            using var segmentation = PredictCommand.LoadModel(parse.GetValue(model)!, settings);
            var dataset = data.Load(parse, segmentation.ClassNames);
            int labels = segmentation.ClassNames.Count + 1;
            var seedMatrix = new ConfusionMatrix(labels);
            var pseudoMatrix = new ConfusionMatrix(labels);
            int withMasks = 0;
            long seedLabelled = 0, seedPixels = 0;
            new ProgressDisplay(settings.NoProgress).ForEach("pseudo labels", dataset.Count, i =>
            {
                var item = dataset[i];
                var image = ImageCodec.Decode(item.ImagePath);
                var truth = item.LoadMask();
                withMasks += truth is null ? 0 : 1;
                if (withSeeds)
                {
                    var seeds = segmentation.ReliableSeeds(image, item.Labels, null, settings.ThreadCount, read.MaxImageSide);
                    PalettePng.Write(Path.Combine(folder, "seeds", item.Id + ".png"), seeds, Visuals.SeedPalette);
                    seedLabelled += seeds.Labels.Count(v => v != SegmentationMask.Ignore);
                    seedPixels += seeds.Labels.Length;
                    if (truth is not null)
                    {
                        seedMatrix.Add(truth, seeds);
                    }
                }

                var pseudo = segmentation.PseudoMask(image, item.Labels, options).Mask;
                PalettePng.Write(Path.Combine(folder, "pseudo", item.Id + ".png"), pseudo);
                if (truth is not null)
                {
                    pseudoMatrix.Add(truth, pseudo);
                }
            });

            Console.WriteLine($"{dataset.Count} images: pseudo masks in {Path.Combine(folder, "pseudo")}" + (withSeeds ? $", seeds in {Path.Combine(folder, "seeds")} (they label {100.0 * seedLabelled / Math.Max(1, seedPixels):F1}% of the pixels)" : string.Empty));
            if (withMasks > 0)
            {
                var quality = seedMatrix.SeedQuality;
                string seedText = withSeeds ? FormattableString.Invariant($", seeds precision {quality.Precision * 100:F2}% coverage {quality.Coverage * 100:F2}%") : string.Empty;
                Console.WriteLine(FormattableString.Invariant($"against {withMasks} ground-truth masks: pseudo-mask mIoU {pseudoMatrix.MeanIoU * 100:F2}{seedText}"));
            }

            return 0;
        }));
        return command;
    }
}
