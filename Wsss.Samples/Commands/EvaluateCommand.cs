using System.CommandLine;
using System.Text;
using System.Text.Json;
using Wsss.Evaluation;
using Wsss.Imaging;

namespace Wsss.Samples.Commands;

/// <summary>`evaluate`: per-class IoU, mIoU and pixel accuracy of a model on a dataset with ground-truth masks.</summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var model = PredictCommand.ModelOption();
        var json = new Option<bool>("--json") { Description = "Print exactly one JSON object {\"miou\", \"iou\": {class: value}, \"pixelAccuracy\", \"images\"} to stdout and nothing else (IoU values are fractions in [0, 1]; null for classes that occur nowhere)." };
        var (scales, flip, crf, maxSide) = PredictCommand.PredictionOptionsFor();
        var command = new Command("evaluate", "Evaluate a model against ground-truth masks: per-class IoU, mIoU (spec section 9: one confusion matrix over the split, 255 ignored) and pixel accuracy.")
        {
            model, json, scales, flip, crf, maxSide,
        };
        var data = DatasetOptions.AddTo(command, withMasks: true);
        var common = CommonOptions.AddTo(command, withSeed: false);
        command.SetAction(parse => Cli.Guard(() =>
        {
            var settings = common.Read(parse);
            settings.Apply();
            bool asJson = parse.GetValue(json);
            var options = PredictCommand.ReadPredictionOptions(parse, scales, flip, crf, maxSide);
            using var segmentation = PredictCommand.LoadModel(parse.GetValue(model)!, settings);
            var dataset = data.Load(parse, segmentation.ClassNames, requireMasks: true);
            string[] labelNames = ["background", .. segmentation.ClassNames];
            var matrix = new ConfusionMatrix(labelNames.Length);
            new ProgressDisplay(settings.NoProgress, silent: asJson).ForEach("evaluating", dataset.Count, i =>
            {
                var item = dataset[i];
                var mask = item.LoadMask()!;
                var prediction = segmentation.Predict(ImageCodec.Decode(item.ImagePath), options).Mask;
                matrix.Add(mask, prediction);
            });

            if (asJson)
            {
                Console.Out.WriteLine(ToJson(matrix, labelNames, dataset.Count));
            }
            else
            {
                Console.Write(matrix.Format(labelNames));
                Console.WriteLine($"images {dataset.Count}, pixels {matrix.ValidPixels} ({matrix.IgnoredPixels} ignored)");
            }

            return 0;
        }));
        return command;
    }

    /// <summary>The one-object JSON summary; NaN (a class that occurs nowhere) becomes null.</summary>
    public static string ToJson(ConfusionMatrix matrix, IReadOnlyList<string> labelNames, int images)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            static void Number(Utf8JsonWriter w, string name, double v)
            {
                if (double.IsFinite(v))
                {
                    w.WriteNumber(name, Math.Round(v, 6));
                }
                else
                {
                    w.WriteNull(name);
                }
            }

            w.WriteStartObject();
            Number(w, "miou", matrix.MeanIoU);
            w.WriteStartObject("iou");
            for (int c = 0; c < labelNames.Count; c++)
            {
                Number(w, labelNames[c], matrix.IoU(c));
            }

            w.WriteEndObject();
            Number(w, "pixelAccuracy", matrix.PixelAccuracy);
            w.WriteNumber("images", images);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
