using Wsss.Seeds;

namespace Wsss.Inference;

/// <summary>How <see cref="SegmentationModel.Predict(Imaging.RgbImage, PredictionOptions?)"/> turns an image into a mask.</summary>
public sealed class PredictionOptions
{
    /// <summary>Input scales whose class probabilities are averaged. Default [1.0] (RRM's own inference); [0.5, 0.75, 1, 1.25, 1.5] with <see cref="Flip"/> is the common multi-scale setting.</summary>
    public IReadOnlyList<double> Scales { get; init; } = [1.0];

    /// <summary>Also average the horizontally flipped image's prediction. Default false.</summary>
    public bool Flip { get; init; }

    /// <summary>Refine the probabilities with a dense CRF before the argmax. Default false.</summary>
    public bool UseCrf { get; init; }

    /// <summary>CRF settings when <see cref="UseCrf"/> is set. Default: RRM's inference CRF (Gaussian sxy 3 compat 3; bilateral sxy 83, srgb 5, compat 4; 10 iterations).</summary>
    public DenseCrfOptions Crf { get; init; } = DenseCrfOptions.Inference;

    /// <summary>
    /// <see cref="SegmentationModel.PseudoMask"/> only: weight w of the CAM probabilities (<see cref="CamBackgroundThreshold"/>,
    /// <see cref="CamBackgroundPower"/>) mixed into the segmentation branch's before the CRF,
    /// p = (1 - w) p_seg + w p_cam; 1 takes the CAMs alone (the classic CAM + dense CRF pseudo mask, and no segmentation
    /// forward at all), 0 the segmentation branch alone. Default 0 (spec section 8: the trained model's own masks).
    /// Deviation from the spec where set: on small datasets with a fixed backbone the segmentation branch learns from
    /// sparse, background-dominated seeds and drops the rare classes that the CAMs still find (docs/QUALITY.md).
    /// </summary>
    public double CamWeight { get; init; }

    /// <summary>
    /// Background score of the CAM probabilities when <see cref="CamBackgroundPower"/> is 0: the constant t of the CAM
    /// baseline's argmax over [t, CAMs] (the normalised CAMs lie in [0, 1]). Default 0.15 (the best threshold of the
    /// coco128-voc sweep, docs/QUALITY.md).
    /// </summary>
    public double CamBackgroundThreshold { get; init; } = 0.15;

    /// <summary>
    /// When positive, the CAM probabilities' background is (1 - max_c CAM_c)^a with this a, the form of the reliable
    /// regions' unaries (spec section 3 uses a = 4 and 32), instead of <see cref="CamBackgroundThreshold"/>. Default 0.
    /// </summary>
    public double CamBackgroundPower { get; init; }

    /// <summary>
    /// Extra CAM scales besides 1 for the CAM probabilities (<see cref="SegmentationModel.ClassActivationMaps"/>); empty
    /// for scale 1 alone. Default empty.
    /// </summary>
    public IReadOnlyList<double> CamScales { get; init; } = [];

    /// <summary>
    /// Longer image side to segment at: a larger image is scaled down to it (area filter), segmented there (scales,
    /// flip and CRF included), and the mask (and probabilities) scaled back to the image's size, nearest. Null takes
    /// the model's training setting (<see cref="SegmentationModel.TrainingMaxImageSide"/>: 0, images as they are, for
    /// models trained without one); 0 segments every image at its own size. Default null.
    /// </summary>
    public int? MaxImageSide { get; init; }

    /// <summary>Return the per-class probabilities ((C + 1) x H x W) as well as the mask. Default false.</summary>
    public bool IncludeProbabilities { get; init; }

    /// <summary>Single scale, no flip, no CRF.</summary>
    public static PredictionOptions Default { get; } = new();

    /// <summary>Scales 0.5, 0.75, 1, 1.25, 1.5 with flip averaging, no CRF.</summary>
    public static PredictionOptions MultiScaleFlip { get; } = new() { Scales = [0.5, 0.75, 1.0, 1.25, 1.5], Flip = true };

    internal void Validate()
    {
        if (Scales is null || Scales.Count == 0)
        {
            throw new ArgumentException("PredictionOptions.Scales needs at least one scale.");
        }

        foreach (double s in Scales)
        {
            if (!(s > 0) || !double.IsFinite(s))
            {
                throw new ArgumentException($"PredictionOptions.Scales must be positive and finite, got {s}.");
            }
        }

        if (!(CamWeight is >= 0 and <= 1))
        {
            throw new ArgumentException($"PredictionOptions.CamWeight must be in [0, 1], got {CamWeight}.");
        }

        if (!(CamBackgroundThreshold > 0) || !double.IsFinite(CamBackgroundThreshold) || !(CamBackgroundPower >= 0) || !double.IsFinite(CamBackgroundPower))
        {
            throw new ArgumentException($"PredictionOptions.CamBackgroundThreshold must be positive and CamBackgroundPower >= 0, got {CamBackgroundThreshold} and {CamBackgroundPower}.");
        }

        if (CamScales is null || CamScales.Any(s => !(s > 0) || !double.IsFinite(s)))
        {
            throw new ArgumentException("PredictionOptions.CamScales must be positive and finite.");
        }

        if (MaxImageSide is < 0)
        {
            throw new ArgumentException($"PredictionOptions.MaxImageSide must be null, 0 or positive, got {MaxImageSide}.");
        }
    }

    /// <summary>These options at the size they are given (<see cref="MaxImageSide"/> 0), for the downscaled image.</summary>
    internal PredictionOptions AtGivenSize() => new()
    {
        Scales = Scales,
        Flip = Flip,
        UseCrf = UseCrf,
        Crf = Crf,
        CamWeight = CamWeight,
        CamBackgroundThreshold = CamBackgroundThreshold,
        CamBackgroundPower = CamBackgroundPower,
        CamScales = CamScales,
        MaxImageSide = 0,
        IncludeProbabilities = IncludeProbabilities,
    };
}

/// <summary>A predicted segmentation.</summary>
public sealed class SegmentationResult
{
    internal SegmentationResult(Imaging.SegmentationMask mask, float[]? probabilities)
    {
        Mask = mask;
        Probabilities = probabilities;
    }

    /// <summary>The class of every pixel: 0 background, c + 1 foreground class c.</summary>
    public Imaging.SegmentationMask Mask { get; }

    /// <summary>Rows of the mask.</summary>
    public int Height => Mask.Height;

    /// <summary>Columns of the mask.</summary>
    public int Width => Mask.Width;

    /// <summary>Per-class probabilities, (C + 1) x H x W, background first; null unless requested.</summary>
    public float[]? Probabilities { get; }
}
