using Wsss.Model;
using Wsss.Seeds;

namespace Wsss.Training;

/// <summary>
/// Named starting points for <see cref="RrmTrainingOptions"/>: every call returns a fresh options object that the
/// caller may change further (backbone, weights, iterations, device...).
/// </summary>
public static class RrmRecipe
{
    /// <summary>The name of <see cref="Reference"/>.</summary>
    public const string ReferenceName = "reference";

    /// <summary>The name of <see cref="SmallDataset"/>.</summary>
    public const string SmallDatasetName = "small-dataset";

    /// <summary>The recipe names <see cref="Create"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = [ReferenceName, SmallDatasetName];

    /// <summary>
    /// The RRM reference recipe (spec sections 2-6): a backbone fine-tuned throughout, 20,000 iterations of batch 4 at
    /// crop 321, lr 7e-4 with poly decay, no momentum, CAM scales 1, 0.5, 1.5, 2, the reference's seed thresholds and
    /// energy weight. Made for PASCAL VOC's 10,582 images and a backbone already fine-tuned as a VOC classifier. These
    /// are <see cref="RrmTrainingOptions"/>' own defaults.
    /// </summary>
    public static RrmTrainingOptions Reference() => new();

    /// <summary>
    /// Settings measured on coco128-voc (97 photographs, 20 classes; docs/QUALITY.md) for a dataset of tens to a few
    /// hundred images and an ImageNet backbone on a CPU budget. They differ from the reference where a small dataset
    /// breaks it: the pretrained backbone stays fixed (fine-tuning it on a few images teaches the classifier context
    /// instead of objects), the classifier trains alone first, the CAMs come from scale 1 only (the extra scales
    /// added context and cost 75 % of the step), the energy loss is weighted for the smaller crop, the sure-background
    /// rule is looser and the sure-foreground one stricter (background seeds are the precise ones on such data), and
    /// the seeded cross-entropy weighs every foreground class alike (<see cref="RrmTrainingOptions.SeedClassBalance"/>).
    /// Images larger than 320 px are scaled down to that longer side, in training and, through the model file, in use.
    /// Defaults: <see cref="BackboneKind.ResNet18"/> with ML.NET's packaged ImageNet weights, 1,000 iterations of which
    /// the first half train the classifier alone (coco128-voc CAM baseline 0.252, against 0.228 after 600 iterations;
    /// about 660 s of CPU). Use <see cref="SmallDatasetPseudoMasks"/> for the pseudo masks.
    /// </summary>
    public static RrmTrainingOptions SmallDataset() => new()
    {
        Backbone = BackboneKind.ResNet18,
        BackboneWidth = 1.0,
        BackboneLearningRateFactor = 0,
        Iterations = 1000,
        BatchSize = 4,
        CropSize = 225,
        // The scale every coco128-voc figure of docs/QUALITY.md was measured at (the bench shrinks the photographs,
        // 640 px, to a longer side of 320): a crop of 225 then holds most of an image and its labelled objects. On the
        // 640-px originals without it the CLI's CAM + CRF pseudo masks scored 0.233 and its two-step network 0.224;
        // with it 0.295 and 0.287 (docs/QUALITY.md, "The two-step variant from the command line").
        MaxImageSide = 320,
        BaseLearningRate = 1e-3,
        Momentum = 0.9,
        ClassificationWarmupFraction = 0.5,
        CamScales = [],
        EnergyLossWeight = 3,
        // Deviations from spec sections 3 and 4, measured on coco128-voc (docs/QUALITY.md, run c3b): a looser
        // sure-background rule ((1 - max CAM)^16 > 0.3, i.e. max CAM < 0.072, instead of ^32 > 0.8), only the top
        // 20 % of a class's CAM values as its sure region (instead of 40 %), and the foreground loss averaged per
        // class. Seeds 0.895 precise at 0.403 coverage (reference rules: 0.844 / 0.246); segmentation branch 0.246
        // mIoU instead of 0.209. The CAMs, and so the CAM pseudo masks, do not change (the backbone is fixed).
        SeedClassBalance = true,
        Seeds = new ReliableSeedOptions { BackgroundCamThreshold = 0.3f, HighBackgroundPower = 16f, CamPercentile = 0.8f },
    };

    /// <summary>
    /// How a recipe's trained model turns training images with known labels into pseudo masks
    /// (<see cref="Inference.SegmentationModel.PseudoMask"/>; the two-step variant's labels). <c>reference</c>: the
    /// segmentation branch restricted to the image labels, then the inference CRF (spec section 8).
    /// <c>small-dataset</c>: see <see cref="SmallDatasetPseudoMasks"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    public static Inference.PredictionOptions PseudoMaskOptions(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToLowerInvariant() switch
        {
            ReferenceName => new Inference.PredictionOptions { UseCrf = true },
            SmallDatasetName or "smalldataset" => SmallDatasetPseudoMasks(),
            _ => throw new ArgumentException($"Unknown recipe '{name}'; use one of {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    /// <summary>
    /// The pseudo masks that go with <see cref="SmallDataset"/>: the trained classifier's CAMs at scale 1 against a
    /// constant background score 0.1, restricted to the image labels, refined by the inference CRF (spec section 7's
    /// parameters), no segmentation branch. Deviation from spec section 8 (which takes the segmentation branch's
    /// masks): with a fixed ImageNet backbone and ~100 images the segmentation branch learns from sparse,
    /// background-dominated seeds and ends below the CAMs it learnt from (coco128-voc, ResNet-18: CAM baseline 0.252,
    /// segmentation branch 0.209, these pseudo masks 0.294; docs/QUALITY.md). The threshold is lower than the CAM
    /// baseline's best (0.15) because the CRF shrinks foreground toward colour edges.
    /// </summary>
    public static Inference.PredictionOptions SmallDatasetPseudoMasks() => new()
    {
        UseCrf = true,
        CamWeight = 1,
        CamBackgroundThreshold = 0.1,
        CamScales = [],
    };

    /// <summary>The recipe called <paramref name="name"/> (<see cref="Names"/>; case-insensitive).</summary>
    /// <exception cref="ArgumentException">An unknown name (the message lists the known ones).</exception>
    public static RrmTrainingOptions Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToLowerInvariant() switch
        {
            ReferenceName => Reference(),
            SmallDatasetName or "smalldataset" => SmallDataset(),
            _ => throw new ArgumentException($"Unknown recipe '{name}'; use one of {string.Join(", ", Names)}.", nameof(name)),
        };
    }
}
