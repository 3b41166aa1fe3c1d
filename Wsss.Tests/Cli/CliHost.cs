using System.Globalization;
using Wsss.Data;
using Wsss.Imaging;
using Wsss.Samples;

namespace Wsss.Tests.Cli;

/// <summary>Runs the command-line tool in-process with its console output captured.</summary>
internal static class CliHost
{
    private static readonly Lock Gate = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        lock (Gate)
        {
            var oldOut = Console.Out;
            var oldErr = Console.Error;
            var stdout = new StringWriter(CultureInfo.InvariantCulture);
            var stderr = new StringWriter(CultureInfo.InvariantCulture);
            Console.SetOut(stdout);
            Console.SetError(stderr);
            try
            {
                int code = CliApp.Run(args);
                return (code, stdout.ToString(), stderr.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="count"/> synthetic images as an image folder: images/{i}.png, labels.csv
    /// (image,labels) and masks/{i}.png; returns the folder.
    /// </summary>
    public static string WriteSyntheticFolder(string root, int count, int size = 48)
    {
        var data = new SyntheticDataset(new SyntheticDatasetOptions { ClassCount = 3, ImageSize = size, MinVisiblePixels = 10, Seed = 11 }, count);
        Directory.CreateDirectory(Path.Combine(root, "images"));
        Directory.CreateDirectory(Path.Combine(root, "masks"));
        var csv = new List<string> { "image,labels" };
        foreach (var sample in data)
        {
            string name = $"img{sample.Index:D3}";
            ImageCodec.SavePng(sample.Image, Path.Combine(root, "images", name + ".png"));
            PalettePng.Write(Path.Combine(root, "masks", name + ".png"), sample.Mask);
            csv.Add($"{name}.png,{string.Join(' ', sample.LabelNames)}");
        }

        File.WriteAllLines(Path.Combine(root, "labels.csv"), csv);
        return root;
    }
}
