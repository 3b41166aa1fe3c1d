using System.CommandLine;
using System.Diagnostics;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Samples.Report;

namespace Wsss.Samples.Commands;

/// <summary>`predict`: segment image files with a trained model, writing VOC-palette mask PNGs and overlays.</summary>
internal static class PredictCommand
{
    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".webp", ".bmp"];

    public static Command Create()
    {
        var model = ModelOption();
        var inputs = new Argument<string[]>("images") { Description = "Image files and/or folders of images (.jpg, .jpeg, .png, .webp, .bmp; folders are not searched recursively).", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "Folder for masks/{name}.png (VOC palette: 0 background, c + 1 class c) and overlays/{name}.png. Default predictions.", DefaultValueFactory = _ => "predictions" };
        var (scales, flip, crf, maxSide) = PredictionOptionsFor();
        var command = new Command("predict", "Segment images with a trained model: palette mask PNGs plus overlay pictures.") { inputs, model, output, scales, flip, crf, maxSide };
        var common = CommonOptions.AddTo(command, withSeed: false);
        command.SetAction(parse => Cli.Guard(() =>
        {
            var settings = common.Read(parse);
            settings.Apply();
            var options = ReadPredictionOptions(parse, scales, flip, crf, maxSide);
            var files = ExpandInputs(parse.GetValue(inputs)!);
            string folder = Path.GetFullPath(parse.GetValue(output)!);
            using var segmentation = LoadModel(parse.GetValue(model)!, settings);
            var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var names = files.Select(f => UniqueName(Path.GetFileNameWithoutExtension(f), used)).ToArray();
            var clock = Stopwatch.StartNew();
            var counts = new long[segmentation.ClassNames.Count + 1];
            new ProgressDisplay(settings.NoProgress).ForEach("predicting", files.Length, i =>
            {
                var image = ImageCodec.Decode(files[i]);
                var mask = segmentation.Predict(image, options).Mask;
                PalettePng.Write(Path.Combine(folder, "masks", names[i] + ".png"), mask);
                ImageCodec.SavePng(Visuals.Overlay(image, mask), Path.Combine(folder, "overlays", names[i] + ".png"));
                foreach (byte v in mask.Labels)
                {
                    counts[v]++;
                }
            });
            long all = Math.Max(1, counts.Sum());
            string share = string.Join(", ", new[] { "background" }.Concat(segmentation.ClassNames)
                .Select((n, c) => (n, c)).Where(t => counts[t.c] > 0).Select(t => FormattableString.Invariant($"{t.n} {100.0 * counts[t.c] / all:F1}%")));
            Console.WriteLine(FormattableString.Invariant($"predicted {files.Length} images in {clock.Elapsed.TotalSeconds:F1} s ({share}); masks: {Path.Combine(folder, "masks")} overlays: {Path.Combine(folder, "overlays")}"));
            return 0;
        }));
        return command;
    }

    /// <summary>The --model option, required.</summary>
    public static Option<string> ModelOption() => new("--model", "-m") { Description = "Trained model file (written by `train` or `quickstart`).", Required = true };

    /// <summary>Loads a model with a one-line error for a missing file.</summary>
    public static SegmentationModel LoadModel(string path, CommonSettings settings)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"model file not found: {Path.GetFullPath(path)}");
        }

        return SegmentationModel.Load(path, settings.Device);
    }

    /// <summary>The options that shape a prediction: --scales, --flip, --crf, --max-side.</summary>
    public static (Option<string> Scales, Option<bool> Flip, Option<bool> Crf, Option<int?> MaxSide) PredictionOptionsFor(bool crfDefault = false) =>
    (
        new Option<string>("--scales") { Description = "Comma-separated input scales whose probabilities are averaged, e.g. 0.5,0.75,1,1.25,1.5. Default 1.", DefaultValueFactory = _ => "1" },
        new Option<bool>("--flip") { Description = "Also average the horizontally flipped image's prediction." },
        new Option<bool>("--crf") { Description = $"Refine with the dense CRF of RRM's inference (Gaussian sxy 3 compat 3; bilateral sxy 83, srgb 5, compat 4; 10 iterations).{(crfDefault ? " Default on; --crf false turns it off." : string.Empty)}", DefaultValueFactory = _ => crfDefault },
        new Option<int?>("--max-side") { Description = "Segment images larger than this (longer side, pixels) scaled down to it; masks are written at the image's size. Default: the model's training setting (train --max-side; the small-dataset recipe's 320); 0 = each image at its own size." }
    );

    public static PredictionOptions ReadPredictionOptions(ParseResult parse, Option<string> scales, Option<bool> flip, Option<bool> crf, Option<int?> maxSide) => new()
    {
        Scales = Cli.ParseScales(parse.GetValue(scales)!),
        Flip = parse.GetValue(flip),
        UseCrf = parse.GetValue(crf),
        MaxImageSide = parse.GetValue(maxSide) is { } side
            ? side >= 0 ? side : throw new ArgumentException($"--max-side must be 0 or positive, got {side}.")
            : null,
    };

    /// <summary>Files as given plus the images directly inside given folders, in a stable order.</summary>
    public static string[] ExpandInputs(IEnumerable<string> inputs)
    {
        var files = new List<string>();
        foreach (string input in inputs)
        {
            if (Directory.Exists(input))
            {
                var found = Directory.EnumerateFiles(input)
                    .Where(f => ImageExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0)
                {
                    throw new FileNotFoundException($"no images (.jpg, .jpeg, .png, .webp, .bmp) in folder {Path.GetFullPath(input)}");
                }

                files.AddRange(found);
            }
            else if (File.Exists(input))
            {
                files.Add(input);
            }
            else
            {
                throw new FileNotFoundException($"image file or folder not found: {Path.GetFullPath(input)}");
            }
        }

        return files.Select(Path.GetFullPath).ToArray();
    }

    private static string UniqueName(string stem, HashSet<string> used)
    {
        string name = stem;
        for (int k = 2; !used.Add(name); k++)
        {
            name = $"{stem}-{k}";
        }

        return name;
    }
}
