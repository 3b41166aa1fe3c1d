using Microsoft.ML;
using Microsoft.ML.Transforms;
using Wsss.Imaging;
using Wsss.Inference;

namespace Wsss.MLNet;

/// <summary>Input of the savable prediction step: the image file path (copy other columns to "ImagePath" first).</summary>
public sealed class SegmentationMappingInput
{
    /// <summary>Path of the image file (PNG, JPEG, ...).</summary>
    public string ImagePath { get; set; } = "";
}

/// <summary>Output of the savable prediction step.</summary>
public sealed class SegmentationMappingOutput
{
    /// <summary>Class of every pixel, row-major (0 background, i = class i - 1 of the model).</summary>
    public uint[] PredictedMask { get; set; } = [];

    /// <summary>Mask height.</summary>
    public int MaskHeight { get; set; }

    /// <summary>Mask width.</summary>
    public int MaskWidth { get; set; }
}

/// <summary>
/// The factory of the savable, inference-only prediction step
/// (<c>mlContext.Transforms.PredictSegmentationMasksWithCustomMapping</c>). An ML.NET zip stores only the
/// contract name <see cref="ContractName"/>; when the zip is loaded, ML.NET creates this factory, which takes
/// the model registered with <see cref="Register(string, PredictionOptions?, DeviceKind, MLContext?)"/> in this
/// process, or else loads the file named by the environment variable <see cref="ModelPathVariable"/>.
/// </summary>
/// <remarks>
/// Limits, all from ML.NET's custom-mapping design: the model file is not inside the zip (ship it beside the
/// zip and register it or set the variable); one model per process serves every loaded zip; the column names
/// are fixed (<c>ImagePath</c> in; <c>PredictedMask</c>, <c>MaskHeight</c>, <c>MaskWidth</c> out); images come
/// from file paths only; the prediction settings (scales, flip, CRF) are those of the registration, defaults
/// (single scale, no CRF) through the environment variable. A registration that is replaced stays loaded,
/// because transformers created from it may still be in use.
/// </remarks>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class SegmentationMappingFactory : CustomMappingFactory<SegmentationMappingInput, SegmentationMappingOutput>
{
    /// <summary>The contract name written into ML.NET zips: "WsssSegmentation".</summary>
    public const string ContractName = "WsssSegmentation";

    /// <summary>The environment variable that names the model file when none is registered: "WSSS_MODEL_PATH".</summary>
    public const string ModelPathVariable = "WSSS_MODEL_PATH";

    private static readonly object Gate = new();
    private static Registration? registered;
    private static readonly Dictionary<string, SegmentationModel> FromVariable = new(StringComparer.Ordinal);

    /// <summary>Loads <paramref name="modelPath"/> and makes it the model of every savable prediction step created or loaded afterwards in this process.</summary>
    /// <param name="modelPath">The Wsss model file.</param>
    /// <param name="options">Scales, flip and CRF. Default: single scale, no CRF.</param>
    /// <param name="device">Where the model runs. Default Auto (a CUDA GPU when available, else the CPU).</param>
    /// <param name="context">Optional context for <see cref="MLContext.GpuDeviceId"/> and <see cref="MLContext.FallbackToCpu"/>.</param>
    /// <exception cref="FileNotFoundException">The model file does not exist.</exception>
    public static void Register(string modelPath, PredictionOptions? options = null, DeviceKind device = DeviceKind.Auto, MLContext? context = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        options ??= PredictionOptions.Default;
        options.Validate();
        var model = SegmentationModel.Load(modelPath, DeviceSelection.Resolve(device, null, null, context));
        lock (Gate)
        {
            registered = new Registration(model, options);
        }
    }

    /// <summary>Makes an already loaded model (still owned by the caller, who must keep it alive while it is used) the model of the savable prediction steps.</summary>
    /// <param name="model">The model.</param>
    /// <param name="options">Scales, flip and CRF. Default: single scale, no CRF.</param>
    public static void Register(SegmentationModel model, PredictionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= PredictionOptions.Default;
        options.Validate();
        lock (Gate)
        {
            registered = new Registration(model, options);
        }
    }

    /// <summary>Forgets the registration, so that steps created or loaded afterwards use <see cref="ModelPathVariable"/>.</summary>
    public static void Unregister()
    {
        lock (Gate)
        {
            registered = null;
        }
    }

    /// <summary>The mapping with the registered model, or the model named by <see cref="ModelPathVariable"/>.</summary>
    /// <exception cref="InvalidOperationException">No model is registered and the variable is not set.</exception>
    /// <exception cref="FileNotFoundException">The variable names a file that does not exist.</exception>
    public override Action<SegmentationMappingInput, SegmentationMappingOutput> GetMapping()
    {
        var (model, options) = Resolve();
        return (input, output) =>
        {
            string path = input.ImagePath?.Trim() ?? "";
            if (path.Length == 0)
            {
                throw new InvalidOperationException("Column 'ImagePath' holds an empty image path.");
            }

            SegmentationResult result = model.Predict(ImageCodec.Decode(path), options);
            var mask = new uint[result.Mask.Labels.Length];
            for (int i = 0; i < mask.Length; i++)
            {
                mask[i] = result.Mask.Labels[i];
            }

            output.PredictedMask = mask;
            output.MaskHeight = result.Height;
            output.MaskWidth = result.Width;
        };
    }

    private static Registration Resolve()
    {
        lock (Gate)
        {
            if (registered is { } r)
            {
                return r;
            }

            string? path = Environment.GetEnvironmentVariable(ModelPathVariable);
            if (string.IsNullOrWhiteSpace(path))
            {
                throw new InvalidOperationException(
                    $"The '{ContractName}' step has no model: call {nameof(SegmentationMappingFactory)}.{nameof(Register)}(modelPath) before loading " +
                    $"the ML.NET model, or set the environment variable {ModelPathVariable} to the Wsss model file (the zip does not contain it).");
            }

            string full = Path.GetFullPath(path);
            if (!FromVariable.TryGetValue(full, out var model))
            {
                if (!File.Exists(full))
                {
                    throw new FileNotFoundException($"{ModelPathVariable} names the model file '{full}', which does not exist.", full);
                }

                model = SegmentationModel.Load(full, DeviceSelection.Resolve(DeviceKind.Auto, null, null, null));
                FromVariable[full] = model;
            }

            return new Registration(model, PredictionOptions.Default);
        }
    }

    private sealed record Registration(SegmentationModel Model, PredictionOptions Options);
}
