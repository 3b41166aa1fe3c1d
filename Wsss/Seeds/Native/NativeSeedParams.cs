// DELETE WITH THE C++ (native/src/lattice.*, densecrf.*, seeds*.cpp): the whole Wsss/Seeds/Native folder,
// Wsss/Interop/NativeMethods.Seeds.cs and the tests marked "native comparison" go together.
using Wsss.Interop;
using Wsss.Seeds.Lattice;

namespace Wsss.Seeds.Native;

/// <summary>Conversions of the validated parameters into the C ABI's structs.</summary>
internal static class NativeSeedParams
{
    public static NativeMethods.CrfParams ToNative(this CrfParameters p) => new()
    {
        GaussianSxy = p.GaussianSxy,
        GaussianCompat = p.GaussianCompat,
        BilateralSxy = p.BilateralSxy,
        BilateralSrgb = p.BilateralSrgb,
        BilateralCompat = p.BilateralCompat,
        Iterations = p.Iterations,
    };

    public static NativeMethods.SeedParams ToNative(this SeedParameters p) => new()
    {
        LowBackgroundPower = p.LowBackgroundPower,
        HighBackgroundPower = p.HighBackgroundPower,
        CamPercentile = p.CamPercentile,
        CamFloor = p.CamFloor,
        BackgroundCamThreshold = p.BackgroundCamThreshold,
        CrfConfidence = p.CrfConfidence,
        Crf = p.Crf.ToNative(),
    };
}
