using Microsoft.ML.OnnxRuntime;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Onnx;
using static TorchSharp.torch;

namespace Wsss.Samples.Onnx;

/// <summary>
/// An exported Wsss model in ONNX Runtime's CPU session (graph optimisations on): image in, probabilities or mask out,
/// as <see cref="SegmentationModel.Predict(RgbImage, PredictionOptions?)"/> at a single scale.
/// </summary>
internal sealed class OnnxRuntimeRunner : IDisposable
{
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string[] outputs = [OnnxExportOptions.ProbabilitiesName];

    /// <summary>Loads <paramref name="path"/>; the error of a file ONNX Runtime cannot load names the file and gives ONNX Runtime's message.</summary>
    /// <param name="path">An ONNX model written by <see cref="SegmentationModel.ExportOnnx"/>.</param>
    /// <param name="threads">ONNX Runtime's intra-op threads (the benchmark gives both engines the same count).</param>
    /// <param name="format">The input format it was exported with.</param>
    /// <param name="normalization">The model's normalisation (for <see cref="OnnxInputFormat.Normalized"/> input).</param>
    public OnnxRuntimeRunner(string path, int threads, OnnxInputFormat format, InputNormalization normalization)
    {
        Format = format;
        Normalization = normalization;
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        // Idle workers sleep instead of spinning, as libtorch's OpenMP workers do here (OMP_WAIT_POLICY=PASSIVE, set by
        // TorchEngine): on the shared 2-core machine spinning made a 500x375 MobileNetV1 run 225 -> 396 ms (median).
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        try
        {
            session = new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"ONNX Runtime could not load '{Path.GetFullPath(path)}': {e.Message}", e);
        }
    }

    public OnnxInputFormat Format { get; }

    public InputNormalization Normalization { get; }

    /// <summary>ONNX Runtime's version string.</summary>
    public static string Version => OrtEnv.Instance().GetVersionString();

    /// <summary>(C + 1) x H x W probabilities of one image, background first.</summary>
    public float[] Probabilities(RgbImage image)
    {
        float[]? result = null;
        Run(image, p => result = p.ToArray());
        return result!;
    }

    /// <summary>The most probable class of every pixel (0 background, c + 1 class c), read from ONNX Runtime's output in place.</summary>
    public byte[] Mask(RgbImage image)
    {
        byte[]? mask = null;
        Run(image, p => mask = Argmax(p, image.Height * image.Width));
        return mask!;
    }

    public void Dispose()
    {
        runOptions.Dispose();
        session.Dispose();
    }

    private static byte[] Argmax(ReadOnlySpan<float> p, int plane)
    {
        int classes = p.Length / plane;
        var mask = new byte[plane];
        for (int i = 0; i < plane; i++)
        {
            int best = 0;
            for (int c = 1; c < classes; c++)
            {
                if (p[(c * plane) + i] > p[(best * plane) + i])
                {
                    best = c;
                }
            }

            mask[i] = (byte)best;
        }

        return mask;
    }

    private void Run(RgbImage image, ReadOnlySpanAction<float> read)
    {
        int h = image.Height, w = image.Width;
        float[] input = Input(image);
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, input.Length / (h * w), h, w]);
        using var results = session.Run(runOptions, [OnnxExportOptions.InputName], [value], outputs);
        read(results[0].GetTensorDataAsSpan<float>());
    }

    private delegate void ReadOnlySpanAction<T>(ReadOnlySpan<T> span);

    private float[] Input(RgbImage image)
    {
        if (Format == OnnxInputFormat.Normalized)
        {
            using (NewDisposeScope())
            {
                return Engine.TensorSpans.ToArrayFast<float>(ImageTensors.ToTensor([image], Normalization, Engine.Devices.Cpu));
            }
        }

        bool bgra = Format == OnnxInputFormat.BgraPlanes;
        int plane = image.Height * image.Width;
        var data = new float[(bgra ? 4 : 3) * plane];
        byte[] px = image.Pixels;
        for (int i = 0; i < plane; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                data[((bgra ? 2 - c : c) * plane) + i] = px[(3 * i) + c];
            }
        }

        if (bgra)
        {
            Array.Fill(data, 255f, 3 * plane, plane);
        }

        return data;
    }
}
