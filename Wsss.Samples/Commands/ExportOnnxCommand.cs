using System.CommandLine;
using System.Globalization;
using Wsss.Engine;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Onnx;
using Wsss.Samples.Onnx;

namespace Wsss.Samples.Commands;

/// <summary>
/// `export-onnx`: writes a trained model's segmentation branch as an ONNX model (<see cref="SegmentationModel.ExportOnnx"/>),
/// then, unless --no-check, loads it in ONNX Runtime's CPU session with every graph optimisation on and compares its
/// probabilities on a test image with TorchSharp's (the export fails if they differ by more than 1e-4).
/// </summary>
internal static class ExportOnnxCommand
{
    private const float Tolerance = 1e-4f;

    public static Command Create()
    {
        var model = PredictCommand.ModelOption();
        var output = new Option<string>("--output", "-o") { Description = "The .onnx file to write (atomically).", Required = true };
        var format = new Option<string>("--input-format")
        {
            Description = "What input 'image' holds: rgb (R, G, B planes of 0-255 values, normalised inside the graph; what ML.NET's ExtractPixels writes), " +
                          "bgra (B, G, R, A planes of 0-255 values), or normalized (the model's normalisation applied by the caller). Default rgb.",
            DefaultValueFactory = _ => "rgb",
        };
        var cams = new Option<bool>("--cams") { Description = "Also output 'cams': the class activation maps at the input size, each divided by its maximum." };
        var opset = new Option<int>("--opset") { Description = $"ONNX opset, {OnnxExportOptions.MinimumOpset} to {OnnxExportOptions.MaximumOpset}. Default {OnnxExportOptions.MinimumOpset}.", DefaultValueFactory = _ => OnnxExportOptions.MinimumOpset };
        var batch = new Option<int>("--batch") { Description = "A fixed batch size; 0 for a dynamic batch. Height and width are always dynamic. Default 0.", DefaultValueFactory = _ => 0 };
        var noCheck = new Option<bool>("--no-check") { Description = "Skip the check of the written file against TorchSharp in ONNX Runtime." };
        var threads = new Option<int>("--threads") { Description = "CPU threads for the check; 0 = all cores. Default 0.", DefaultValueFactory = _ => 0 };
        var command = new Command("export-onnx", "Export a trained model's segmentation branch (single scale, no CRF) as an ONNX model, checked in ONNX Runtime.")
        {
            model, output, format, cams, opset, batch, noCheck, threads,
        };
        command.SetAction(parse => Cli.Guard(() =>
        {
            int threadCount = parse.GetValue(threads) is > 0 and int t ? t : Environment.ProcessorCount;
            var options = new OnnxExportOptions
            {
                InputFormat = ParseFormat(parse.GetValue(format)!),
                IncludeClassActivationMaps = parse.GetValue(cams),
                Opset = parse.GetValue(opset),
                BatchSize = parse.GetValue(batch) switch
                {
                    0 => null,
                    > 0 and int b => b,
                    int b => throw new ArgumentException($"--batch must be 0 (dynamic) or positive, got {b}."),
                },
            };
            string path = Path.GetFullPath(parse.GetValue(output)!);
            TorchEngine.Threads = threadCount;
            using var segmentation = PredictCommand.LoadModel(parse.GetValue(model)!, new CommonSettings(Devices.Cpu, threadCount, 0, true));
            segmentation.ExportOnnx(path, options);
            Console.WriteLine(FormattableString.Invariant(
                $"exported {segmentation.Backbone} ({segmentation.ClassNames.Count} classes) to {path}: {new FileInfo(path).Length / 1048576.0:F1} MiB, opset {options.Opset}, input '{OnnxExportOptions.InputName}' {options.InputFormat} [{(options.BatchSize?.ToString(CultureInfo.InvariantCulture) ?? "batch")}, {(options.InputFormat == OnnxInputFormat.BgraPlanes ? 4 : 3)}, height, width], outputs {OnnxExportOptions.ProbabilitiesName}{(options.IncludeClassActivationMaps ? ", " + OnnxExportOptions.ClassActivationMapsName : string.Empty)}"));
            if (segmentation.TrainingMaxImageSide > 0)
            {
                // The graph segments what it is given; the trained scale is the caller's to apply.
                Console.WriteLine($"note: the model was trained on images of at most {segmentation.TrainingMaxImageSide} px (longer side); scale larger images down to that before the ONNX model, as predict does.");
            }

            if (parse.GetValue(noCheck))
            {
                return 0;
            }

            if (options.BatchSize is > 1)
            {
                Console.WriteLine($"check: skipped (the check runs one image; the model takes a fixed batch of {options.BatchSize})");
                return 0;
            }

            return Check(segmentation, path, options.InputFormat, threadCount);
        }));
        return command;
    }

    private static OnnxInputFormat ParseFormat(string text) => text.ToLowerInvariant() switch
    {
        "rgb" => OnnxInputFormat.RgbPlanes,
        "bgra" => OnnxInputFormat.BgraPlanes,
        "normalized" or "normalised" => OnnxInputFormat.Normalized,
        _ => throw new ArgumentException($"--input-format must be rgb, bgra or normalized, got '{text}'."),
    };

    private static int Check(SegmentationModel segmentation, string path, OnnxInputFormat format, int threads)
    {
        // An odd size: TensorFlow 'same' padding is asymmetric for even sizes only, and the graph computes it per input.
        var image = CheckImage(97, 131);
        using var runner = new OnnxRuntimeRunner(path, threads, format, segmentation.Metadata.Normalization);
        float[] onnx = runner.Probabilities(image);
        var reference = segmentation.Predict(image, new PredictionOptions { IncludeProbabilities = true });
        float worst = reference.Probabilities!.Zip(onnx, (a, b) => Math.Abs(a - b)).Max();
        byte[] mask = runner.Mask(image);
        double agreement = mask.Zip(reference.Mask.Labels).Count(p => p.First == p.Second) / (double)mask.Length;
        string line = FormattableString.Invariant(
            $"check: ONNX Runtime {OnnxRuntimeRunner.Version} (graph optimisations on) vs TorchSharp on a {image.Height}x{image.Width} image: max |p diff| {worst:E2}, argmax agreement {agreement:P3}");
        if (!(worst <= Tolerance))
        {
            return Cli.Fail($"{line}: the exported model differs from TorchSharp by more than {Tolerance} ({path})");
        }

        Console.WriteLine(line);
        return 0;
    }

    /// <summary>A deterministic colour pattern with texture (no data files needed).</summary>
    private static RgbImage CheckImage(int height, int width)
    {
        var image = new RgbImage(height, width);
        var rng = new Random(12345);
        for (int i = 0; i < image.Pixels.Length; i++)
        {
            int p = i / 3, y = p / width, x = p % width, c = i % 3;
            image.Pixels[i] = (byte)Math.Clamp(128 + (90 * Math.Sin((0.11 * x * (c + 1)) + (0.07 * y) + c)) + rng.Next(-25, 26), 0, 255);
        }

        return image;
    }
}
