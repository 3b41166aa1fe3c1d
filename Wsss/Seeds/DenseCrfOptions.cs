using Wsss.Seeds.Lattice;

namespace Wsss.Seeds;

/// <summary>
/// Parameters of the fully connected CRF (pydensecrf's addPairwiseGaussian and addPairwiseBilateral
/// with Potts compatibility and symmetric normalisation). The defaults are those RRM uses for its
/// reliable regions during training (spec section 3); <see cref="Inference"/> gives the
/// post-processing settings of spec section 7.
/// </summary>
public sealed record DenseCrfOptions
{
    /// <summary>Positional standard deviation of the smoothness (Gaussian) kernel, in pixels. Default 3.</summary>
    public float GaussianSxy { get; init; } = 3f;

    /// <summary>Potts weight of the smoothness kernel. Default 3.</summary>
    public float GaussianCompat { get; init; } = 3f;

    /// <summary>Positional standard deviation of the appearance (bilateral) kernel, in pixels. Default 80.</summary>
    public float BilateralSxy { get; init; } = 80f;

    /// <summary>Colour standard deviation of the appearance kernel, in 0-255 RGB units. Default 13.</summary>
    public float BilateralSrgb { get; init; } = 13f;

    /// <summary>Potts weight of the appearance kernel. Default 10.</summary>
    public float BilateralCompat { get; init; } = 10f;

    /// <summary>Mean-field iterations. Default 10.</summary>
    public int Iterations { get; init; } = 10;

    /// <summary>The reference's test-time CRF: Gaussian sxy 3 compat 3, bilateral sxy 83 srgb 5 compat 4, 10 iterations.</summary>
    public static DenseCrfOptions Inference { get; } = new() { BilateralSxy = 83f, BilateralSrgb = 5f, BilateralCompat = 4f };

    /// <summary>The validated parameters the CRF cores take.</summary>
    internal CrfParameters ToParameters()
    {
        Validate();
        return new CrfParameters(GaussianSxy, GaussianCompat, BilateralSxy, BilateralSrgb, BilateralCompat, Iterations);
    }

    private void Validate()
    {
        static void Positive(float v, string name)
        {
            if (!(v > 0) || !float.IsFinite(v))
            {
                throw new ArgumentOutOfRangeException(name, v, $"{name} must be a positive number.");
            }
        }

        Positive(GaussianSxy, nameof(GaussianSxy));
        Positive(BilateralSxy, nameof(BilateralSxy));
        Positive(BilateralSrgb, nameof(BilateralSrgb));
        if (!float.IsFinite(GaussianCompat) || !float.IsFinite(BilateralCompat))
        {
            throw new ArgumentOutOfRangeException(nameof(GaussianCompat), "CRF compatibility weights must be finite.");
        }

        if (Iterations < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Iterations), Iterations, "Iterations must be >= 0.");
        }
    }
}
