using Microsoft.ML;
using Microsoft.ML.Data;

// Predicts segmentation masks with an ML.NET zip whose ONNX model was exported by Wsss, with ML.NET and ONNX Runtime only.
//   MLNetOnnxZip <pipeline.zip> <output-folder> <image>...
// For image i it writes <output-folder>/<i>.mask (height x width bytes, row-major: 0 background, c + 1 class c) and prints
// "mask <i> <height>x<width>"; then "assemblies: ..." (every assembly loaded) and "native: ..." (ONNX Runtime and libtorch
// libraries mapped), which Wsss.MLNet.Tests checks.
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: MLNetOnnxZip <pipeline.zip> <output-folder> <image>...");
    return 2;
}

try
{
    var ml = new MLContext(seed: 1);
    // Model.Load finds the transformers' loaders in the registered assemblies: ImageAnalytics and OnnxTransformer.
    ml.ComponentCatalog.RegisterAssembly(typeof(ImageLoadingTransformer).Assembly);
    ml.ComponentCatalog.RegisterAssembly(typeof(Microsoft.ML.Transforms.Onnx.OnnxTransformer).Assembly);
    ITransformer model = ml.Model.Load(args[0], out DataViewSchema inputSchema);
    int width = -1, height = -1;
    Directory.CreateDirectory(args[1]);
    IDataView data = ml.Data.LoadFromEnumerable(args.Skip(2).Select(p => new ImageInput { ImagePath = Path.GetFullPath(p) }));
    IDataView scored = model.Transform(data);
    // The probabilities column's shape (1, classes + 1, height, width) is fixed by the zip's shape dictionary.
    if (scored.Schema["probabilities"].Type is VectorDataViewType { Dimensions.Length: 4 } type)
    {
        (height, width) = (type.Dimensions[2], type.Dimensions[3]);
    }

    int i = 0;
    foreach (float[] probabilities in scored.GetColumn<float[]>("probabilities"))
    {
        byte[] mask = SegmentationMasks.FromProbabilities(probabilities, height, width);
        File.WriteAllBytes(Path.Combine(args[1], $"{i}.mask"), mask);
        Console.WriteLine($"mask {i} {height}x{width}");
        i++;
    }

    Console.WriteLine("assemblies: " + string.Join(",", AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).Order()));
    Console.WriteLine("native: " + string.Join(",", File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        .Where(f => f.Length >= 6 && (f[5].Contains("onnxruntime") || f[5].Contains("torch") || f[5].Contains("c10"))).Select(f => Path.GetFileName(f[5])).Distinct().Order()));
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine(e.ToString());
    return 3;
}

/// <summary>The zip's input row: what the saved pipeline's first step (LoadImages) reads.</summary>
internal sealed class ImageInput
{
    public string ImagePath { get; set; } = "";
}

/// <summary>Turns the exported model's probability column into a mask.</summary>
internal static class SegmentationMasks
{
    /// <summary>
    /// The most probable class of every pixel. <paramref name="probabilities"/> is the "probabilities" column of one row:
    /// (classes + 1) planes of height x width values, background first; mask value 0 is background and c + 1 is class c
    /// (the ONNX model's metadata "wsss.class_names" names them).
    /// </summary>
    public static byte[] FromProbabilities(ReadOnlySpan<float> probabilities, int height, int width)
    {
        int plane = height * width, classes = probabilities.Length / plane;
        var mask = new byte[plane];
        for (int p = 0; p < plane; p++)
        {
            int best = 0;
            for (int c = 1; c < classes; c++)
            {
                if (probabilities[(c * plane) + p] > probabilities[(best * plane) + p])
                {
                    best = c;
                }
            }

            mask[p] = (byte)best;
        }

        return mask;
    }
}
