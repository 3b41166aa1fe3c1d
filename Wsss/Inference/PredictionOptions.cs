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
    }
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
