using Wsss.Seeds.Lattice;

namespace Wsss.Seeds;

/// <summary>Parameters of RRM's reliable-region pruning (spec section 3); the defaults are the reference's.</summary>
public sealed record ReliableSeedOptions
{
    /// <summary>Background power of the "low" CRF's unary, <c>(1 - max_c cam_c)^a</c>. Default 4.</summary>
    public float LowBackgroundPower { get; init; } = 4f;

    /// <summary>Background power of the "high" CRF's unary and of the CAM label's background score. Default 32.</summary>
    public float HighBackgroundPower { get; init; } = 32f;

    /// <summary>
    /// Share of a class's CAM values (those above <see cref="CamFloor"/> inside its CAM label region)
    /// below the sure threshold: the threshold is the value at index floor(p * count) of the sorted
    /// values, and pixels strictly above it are sure. Default 0.6 (the top 40 % are sure).
    /// </summary>
    public float CamPercentile { get; init; } = 0.6f;

    /// <summary>CAM values at or below this take no part in the percentile. Default 0.1.</summary>
    public float CamFloor { get; init; } = 0.1f;

    /// <summary>Background is sure where the CAM label is background and its score exceeds this. Default 0.8.</summary>
    public float BackgroundCamThreshold { get; init; } = 0.8f;

    /// <summary>Pixels whose CRF confidence is below this are unreliable. Default 0.8.</summary>
    public float CrfConfidence { get; init; } = 0.8f;

    /// <summary>
    /// Exponent applied to the normalised CAMs before anything else: values stay in [0, 1] with the peak at 1, and an
    /// exponent below 1 lifts the low values. Not in the reference (which uses 1): its rules were tuned on CAMs of a
    /// classifier fine-tuned on 10,582 VOC images, which cover whole objects, while a classifier trained on a few
    /// dozen images over a fixed ImageNet backbone gives peaky CAMs whose object bodies fall below the background
    /// rule's 0.007 and become background seeds (docs/QUALITY.md). Default 1 (the reference).
    /// </summary>
    public float CamExponent { get; init; } = 1f;

    /// <summary>CRF settings of both CRFs (default: Gaussian sxy 3 compat 3, bilateral sxy 80 srgb 13 compat 10, 10 iterations).</summary>
    public DenseCrfOptions Crf { get; init; } = new();

    /// <summary>The validated parameters the seeds core takes.</summary>
    internal SeedParameters ToParameters()
    {
        if (!(LowBackgroundPower > 0) || !(HighBackgroundPower > 0) || !float.IsFinite(LowBackgroundPower) ||
            !float.IsFinite(HighBackgroundPower))
        {
            throw new ArgumentOutOfRangeException(nameof(LowBackgroundPower), "Background powers must be positive numbers.");
        }

        if (!(CamPercentile >= 0 && CamPercentile < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(CamPercentile), CamPercentile, "CamPercentile must be in [0, 1).");
        }

        // The C++ rejected these too (its own check, reported as a native error before).
        if (!float.IsFinite(CamFloor) || !float.IsFinite(BackgroundCamThreshold) || !float.IsFinite(CrfConfidence))
        {
            throw new ArgumentOutOfRangeException(
                nameof(CamFloor), "CamFloor, BackgroundCamThreshold and CrfConfidence must be finite numbers.");
        }

        if (!(CamExponent > 0) || !float.IsFinite(CamExponent))
        {
            throw new ArgumentOutOfRangeException(nameof(CamExponent), CamExponent, "CamExponent must be a positive number.");
        }

        ArgumentNullException.ThrowIfNull(Crf);
        return new SeedParameters(
            LowBackgroundPower, HighBackgroundPower, CamPercentile, CamFloor, BackgroundCamThreshold, CrfConfidence, Crf.ToParameters());
    }
}
