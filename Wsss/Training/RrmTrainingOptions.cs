using System.Text.Json;
using System.Text.Json.Serialization;
using Wsss.Losses;
using Wsss.Model;
using Wsss.Seeds;
using static TorchSharp.torch;

namespace Wsss.Training;

/// <summary>
/// Settings of <see cref="RrmTrainer"/>. Defaults follow the RRM reference recipe (spec sections 2-6) except
/// where noted; the quickstart and tests shrink iterations, crop and backbone.
/// </summary>
public sealed class RrmTrainingOptions
{
    /// <summary>Backbone architecture. Default MobileNetV1 (CPU-friendly; the paper uses ResNet38).</summary>
    public BackboneKind Backbone { get; set; } = BackboneKind.MobileNetV1;

    /// <summary>MobileNetV1 width multiplier (1.0, 0.75, 0.5, 0.25); must match the pretrained weights. Default 1.0.</summary>
    public double BackboneWidth { get; set; } = 1.0;

    /// <summary>
    /// Pretrained backbone weights, by extension (see <see cref="PretrainedBackbone"/>): a TensorFlow.js model.json
    /// (MobileNetV1), ML.NET's ResNet-18 ONNX file (.onnx), a torchvision state_dict (.pth / .pt: ResNet18, ResNet50,
    /// ResNet101) or a safetensors file with the backbone's parameter names. Default null: ResNet18 finds ML.NET's
    /// packaged weights (<see cref="UsePackagedWeights"/>), other backbones start from random weights (only sensible
    /// for SmallCnn).
    /// </summary>
    public string? PretrainedWeightsPath { get; set; }

    /// <summary>
    /// Without <see cref="PretrainedWeightsPath"/>, take the ImageNet weights that a referenced package ships: for
    /// ResNet18 ML.NET's Microsoft.ML.DnnImageFeaturizer.ResNet18 ONNX file, found in the application's output folder
    /// or the NuGet cache; training fails with how to get it when it is not there. False: random initialisation.
    /// Default true.
    /// </summary>
    public bool UsePackagedWeights { get; set; } = true;

    /// <summary>Freeze every BatchNorm (running statistics and affine parameters), as RRM does. Default: the backbone's own default (frozen for pretrained backbones, trained for SmallCnn).</summary>
    public bool? FrozenBatchNorm { get; set; }

    /// <summary>Training iterations (one batch each). Default 20,000.</summary>
    public int Iterations { get; set; } = 20_000;

    /// <summary>Images per batch. Default 4.</summary>
    public int BatchSize { get; set; } = 4;

    /// <summary>Square crop side in pixels. Default 321.</summary>
    public int CropSize { get; set; } = 321;

    /// <summary>
    /// Longer side, in pixels, that every training image (and mask) is scaled down to before augmentation when it is
    /// larger (area filter; masks nearest); 0 trains on the images as they are. The model file keeps the value, and
    /// its predictions, pseudo masks and seeds scale images the same way by default
    /// (<see cref="Inference.PredictionOptions.MaxImageSide"/>), so the network sees objects at one scale in training
    /// and use. Default 0 (the reference; the small-dataset recipe uses 320).
    /// </summary>
    public int MaxImageSide { get; set; }

    /// <summary>Smallest random rescale of a batch. Default 0.7.</summary>
    public double MinScale { get; set; } = 0.7;

    /// <summary>Largest random rescale of a batch. Default 1.3.</summary>
    public double MaxScale { get; set; } = 1.3;

    /// <summary>Random horizontal flips. Default true.</summary>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>Base learning rate (backbone weights; biases x2, new-head weights x10, new-head biases x20). Default 7e-4.</summary>
    public double BaseLearningRate { get; set; } = 7e-4;

    /// <summary>Poly decay power: lr_t = lr_0 (1 - t/T)^power. Default 0.9.</summary>
    public double PolyPower { get; set; } = 0.9;

    /// <summary>SGD momentum. Default 0, which is what the reference effectively runs (it passes weight decay into the momentum slot).</summary>
    public double Momentum { get; set; }

    /// <summary>Weight decay of weights (biases get none). Default 1e-5.</summary>
    public double WeightDecay { get; set; } = 1e-5;

    /// <summary>
    /// Extra factor on the backbone's two learning-rate groups (x1 weights, x2 biases become x f and x 2f); the
    /// new layers keep x10 / x20. 0 keeps the pretrained backbone fixed (its parameters stop requiring gradients,
    /// so backward ends at the heads), which suits very small datasets where fine-tuning it teaches the
    /// classifier context instead of objects. Default 1 (the reference).
    /// </summary>
    public double BackboneLearningRateFactor { get; set; } = 1.0;

    /// <summary>Weight of the multilabel soft-margin classification loss. Default 1.</summary>
    public double ClassificationLossWeight { get; set; } = 1.0;

    /// <summary>Weight of the seeded (balanced) cross-entropy. Default 1.</summary>
    public double SeedLossWeight { get; set; } = 1.0;

    /// <summary>
    /// Average the seeded cross-entropy's foreground term per class (each foreground class with seed pixels in the
    /// batch weighs the same) instead of over all foreground pixels (<see cref="Losses.SeededCrossEntropy.Compute(Tensor, Tensor, bool)"/>).
    /// Deviation from spec section 4, for small datasets whose seeds one class dominates. Default false (the reference).
    /// </summary>
    public bool SeedClassBalance { get; set; }

    /// <summary>Factor on the dense energy loss (whose own scale is <see cref="DenseEnergyLossOptions.Weight"/>); 0 disables it. Default 1.</summary>
    public double EnergyLossWeight { get; set; } = 1.0;

    /// <summary>
    /// Share of the iterations trained on the classification loss alone before seeds and segmentation
    /// losses start (the reference's recipe for an ImageNet-only backbone uses 0.5). Default 0.
    /// </summary>
    public double ClassificationWarmupFraction { get; set; }

    /// <summary>Extra CAM scales besides 1 (spec section 2). Default 0.5, 1.5, 2.0.</summary>
    public IReadOnlyList<double> CamScales { get; set; } = [0.5, 1.5, 2.0];

    /// <summary>Reliable-seed settings (two CRFs, pruning thresholds). Default: the reference's.</summary>
    [JsonIgnore]
    public ReliableSeedOptions Seeds { get; set; } = new();

    /// <summary>Use the dense CRFs when computing seeds; false takes the CAM label with the same confidence rules minus the CRF (ablation). Default true.</summary>
    public bool UseCrfInSeeds { get; set; } = true;

    /// <summary>Dense energy loss settings. Default: the reference's (weight 1e-7, sxy 100 at full resolution, srgb 15, half resolution).</summary>
    [JsonIgnore]
    public DenseEnergyLossOptions Energy { get; set; } = new();

    /// <summary>Compute device (TorchSharp's). Default null: the CPU (set <see cref="Engine.Devices.BestAvailable"/> for a GPU when present).</summary>
    [JsonIgnore]
    public Device? Device { get; set; }

    /// <summary>CPU threads for libtorch and the CRFs; 0 = all cores. Default 0.</summary>
    public int Threads { get; set; }

    /// <summary>Seed of data order, augmentation, initialisation and dropout. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>Checkpoint file (model, optimiser, iteration, random state); null disables checkpoints. Default null.</summary>
    public string? CheckpointPath { get; set; }

    /// <summary>Iterations between checkpoints. Default 1,000.</summary>
    public int CheckpointInterval { get; set; } = 1000;

    /// <summary>Continue from <see cref="CheckpointPath"/> when that file exists. Default true.</summary>
    public bool ResumeFromCheckpoint { get; set; } = true;

    /// <summary>Report progress every this many iterations (the first and last are always reported). Default 1.</summary>
    public int ProgressInterval { get; set; } = 1;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentException($"Invalid training option: {message}");
            }
        }

        Check(Iterations > 0, $"Iterations must be positive, got {Iterations}.");
        Check(BatchSize > 0, $"BatchSize must be positive, got {BatchSize}.");
        Check(CropSize >= 16, $"CropSize must be at least 16, got {CropSize}.");
        Check(MaxImageSide == 0 || MaxImageSide >= 16, $"MaxImageSide must be 0 (images as they are) or at least 16, got {MaxImageSide}.");
        Check(MinScale > 0 && MaxScale >= MinScale, $"need 0 < MinScale <= MaxScale, got {MinScale}..{MaxScale}.");
        Check(BaseLearningRate > 0 && double.IsFinite(BaseLearningRate), $"BaseLearningRate must be positive, got {BaseLearningRate}.");
        Check(BackboneLearningRateFactor >= 0 && double.IsFinite(BackboneLearningRateFactor), $"BackboneLearningRateFactor must be finite and >= 0, got {BackboneLearningRateFactor}.");
        Check(Momentum is >= 0 and < 1, $"Momentum must be in [0, 1), got {Momentum}.");
        Check(WeightDecay >= 0, $"WeightDecay must be >= 0, got {WeightDecay}.");
        Check(ClassificationWarmupFraction is >= 0 and <= 1, $"ClassificationWarmupFraction must be in [0, 1], got {ClassificationWarmupFraction}.");
        Check(Threads >= 0, $"Threads must be >= 0, got {Threads}.");
        Check(CheckpointInterval > 0, $"CheckpointInterval must be positive, got {CheckpointInterval}.");
        Check(ProgressInterval > 0, $"ProgressInterval must be positive, got {ProgressInterval}.");
        Check(ClassificationLossWeight >= 0 && SeedLossWeight >= 0 && EnergyLossWeight >= 0, "loss weights must be >= 0.");
        Check(CamScales is not null && CamScales.All(s => s > 0 && double.IsFinite(s)), "CamScales must be positive.");
        Check(PretrainedWeightsPath is null || File.Exists(PretrainedWeightsPath), $"PretrainedWeightsPath '{PretrainedWeightsPath}' does not exist.");
    }

    /// <summary>The options as JSON (stored in model files and checkpoints for provenance).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    private static readonly JsonSerializerOptions JsonOptions = new() { Converters = { new JsonStringEnumConverter() } };
}
