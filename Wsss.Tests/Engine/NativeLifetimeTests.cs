using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Data;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Training;
using static TorchSharp.torch;

namespace Wsss.Tests.Engine;

/// <summary>
/// Native values live as long as the native calls that use them. TorchSharp 0.107 reads the handle of a temporary
/// Scalar (an implicit conversion, or the alpha of 1 that <c>Tensor + Tensor</c> makes) or of a temporary tensor
/// outside a dispose scope, and lets the .NET object go: a garbage collection on another thread during the call
/// finalizes it and frees the value libtorch is reading (measured here: 'toFloat' check failures within seconds and a
/// SIGSEGV, the exit 139 a CI run saw in a training child). The library keeps its Scalars in locals or in
/// <c>Wsss.Engine.Scalars</c>, and the scan below keeps it so.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class NativeLifetimeTests
{
    private static readonly Lazy<ImplicitScalarScan> Scan = new(() =>
        ImplicitScalarScan.OfTorchSharp(Path.Combine(AppContext.BaseDirectory, "TorchSharp.dll")));

    // Compiled, never run: the scan must report both lines.
    private static Tensor ImplicitScalarExample(Tensor a, Tensor b) => (a * 0.5) + b;

    [TestMethod]
    public void TheScan_FindsTorchSharpsHazards_AndACallerOfThem()
    {
        IReadOnlySet<string> hazards = Scan.Value.HazardousTorchSharpMethods;
        foreach (string expected in new[] { "torch/Tensor::op_Addition(Tensor,Tensor)", "torch/Tensor::op_Multiply(Tensor,Double)", "torch/Tensor::add(Tensor)" })
        {
            Assert.IsTrue(hazards.Contains(expected), $"{expected} makes an implicit Scalar");
        }

        Assert.IsTrue(hazards.Any(h => h.Contains("SGD::step", StringComparison.Ordinal)), "TorchSharp's SGD.step passes its rates as implicit Scalars");
        Assert.IsFalse(hazards.Contains("torch/Tensor::add(Tensor,Scalar)"), "an explicit alpha is the caller's");

        var found = Scan.Value.Find(typeof(NativeLifetimeTests).Assembly.Location).Where(f => f.Contains(nameof(ImplicitScalarExample), StringComparison.Ordinal)).ToArray();
        Assert.AreEqual(2, found.Length, string.Join("\n", found));
    }

    [TestMethod]
    public void LibraryAndCli_MakeNoScalarThatNobodyKeepsAlive()
    {
        string[] assemblies = ["Wsss.dll", "Wsss.Samples.dll"];
        var found = assemblies.SelectMany(a => Scan.Value.Find(Path.Combine(AppContext.BaseDirectory, a)).Select(f => $"{a}: {f}")).ToArray();
        Assert.AreEqual(0, found.Length, "calls that make a Scalar a garbage collection may free mid-call (use Wsss.Engine.ScalarMath or a using local):\n" + string.Join("\n", found));
    }

    [TestMethod]
    public void TrainingAndPrediction_UnderConstantGarbageCollections_AreUnchanged()
    {
        // Measured before the fix: this run failed in one of two tries ("Unknown scalar type" from libtorch).
        // A thread that collects and finalizes without pause: any unowned native value in the training step, the
        // optimiser, checkpointing, saving, loading, prediction or pseudo masks (CRF) would be freed under libtorch (a wrong number, an error or a crash).
        var data = WeakDataset.From(new SyntheticDataset(new SyntheticDatasetOptions { ImageSize = 96, ClassCount = 2, Seed = 3, MinVisiblePixels = 12 }, 8));
        using var dir = TestData.NewTempDirectory();
        RrmTrainingOptions Options(string checkpoint) => new()
        {
            Backbone = BackboneKind.SmallCnn,
            Iterations = 40,
            BatchSize = 2,
            CropSize = 96,
            BaseLearningRate = 0.01,
            Momentum = 0.9,
            ClassificationWarmupFraction = 0.25,
            Threads = 1,
            Seed = 9,
            CheckpointPath = checkpoint,
            CheckpointInterval = 2,
        };

        (float[] Weights, byte[] Mask) Run(string checkpoint)
        {
            using SegmentationModel trained = new RrmTrainer(Options(checkpoint)).Train(data);
            trained.Save(checkpoint + ".model");
            using SegmentationModel model = SegmentationModel.Load(checkpoint + ".model");
            float[] weights = SegmentationModel.ExportTensors(model.Network).Where(t => t.DType == Wsss.Model.Serialization.TensorDType.F32).SelectMany(t => t.AsFloatArray()).ToArray();
            var sample = data.Load(0);
            byte[] mask = model.Predict(sample.Image, new PredictionOptions { Scales = [1.0, 0.75], Flip = true }).Mask.Labels;
            byte[] pseudo = model.PseudoMask(sample.Image, sample.Labels).Mask.Labels;
            return (weights, [.. mask, .. pseudo]);
        }

        var quiet = Run(dir.File("quiet.ckpt"));
        bool stop = false;
        long collections = 0;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                collections++;
            }
        }) { IsBackground = true };
        collector.Start();
        (float[] Weights, byte[] Mask) busy;
        try
        {
            busy = Run(dir.File("busy.ckpt"));
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }

        Assert.IsTrue(collections > 20, $"only {collections} collections ran beside the training");
        CollectionAssert.AreEqual(quiet.Weights, busy.Weights, $"the weights changed under {collections} collections");
        CollectionAssert.AreEqual(quiet.Mask, busy.Mask, "the predicted and pseudo masks changed under collections");
    }
}
