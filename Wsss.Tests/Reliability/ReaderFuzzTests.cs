using CsCheck;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Samples.Bench.Fuzz;

namespace Wsss.Tests.Reliability;

/// <summary>
/// The reader property (<see cref="FuzzCheck"/>) on 2,000 generated cases per reader: valid files must read back
/// equal, damaged ones (cut, flipped, absurd header values, deep or huge JSON, hostile XML) must throw the reader's
/// documented exception naming the file, and no read may hang or allocate far beyond its input. `bench fuzz
/// --minutes N` runs the same cases for longer. CsCheck picks a fresh seed each run and prints the one that
/// replays a failure (Cases.Sample(..., seed: "...")).
/// </summary>
[TestClass]
public sealed class ReaderFuzzTests
{
    internal const int Cases = 2000;

    internal static void Fuzz(string reader)
    {
        string work = Path.Combine(Path.GetTempPath(), $"wsss-fuzz-{reader}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            using FuzzTarget target = FuzzTargets.Create(reader);
            // One thread: the suite shares two cores, and each case is a few milliseconds.
            target.Cases.Sample(c => FuzzCheck.Assert(target, c, work), iter: Cases, threads: 1, print: c => c.ToString());
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [TestMethod]
    public void Safetensors() => Fuzz("safetensors");

    [TestMethod]
    public void ModelFile() => Fuzz("model-file");

    [TestMethod]
    public void TfjsLayersModel() => Fuzz("tfjs");

    [TestMethod]
    public void PaletteMask() => Fuzz("png-mask");

    [TestMethod]
    public void ImageDecoding() => Fuzz("image");

    [TestMethod]
    public void VocFolder() => Fuzz("voc");

    [TestMethod]
    public void LabelsCsvFolder() => Fuzz("labels-csv");
}

/// <summary>
/// The checkpoint reader under the same property. Apart from the others: loading a checkpoint sets libtorch's
/// process-wide generator, which tests running beside it (training reproducibility) depend on.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class CheckpointFuzzTests
{
    [TestMethod]
    public void Checkpoint() => ReaderFuzzTests.Fuzz("checkpoint");
}
