using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Data;
using Wsss.Engine;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Training;
using static TorchSharp.torch;

namespace Wsss.Tests.Engine;

[TestClass]
public sealed class DevicesTests
{
    private static void SkipWithAGpu()
    {
        if (Devices.CudaDeviceCount > 0)
        {
            Assert.Inconclusive($"{Devices.CudaDeviceCount} CUDA device(s) usable: the no-GPU error path cannot be exercised here.");
        }
    }

    private static void ExpectNoCuda(Action action)
    {
        var ex = Assert.ThrowsExactly<InvalidOperationException>(action);
        // The message must tell a user of the CPU backend what to reference instead.
        StringAssert.Contains(ex.Message, "TorchSharp-cuda-windows");
        StringAssert.Contains(ex.Message, "TorchSharp-cuda-linux");
        StringAssert.Contains(ex.Message, "TorchSharp-cpu");
    }

    [TestMethod]
    public void CudaWithoutAGpu_FailsAtOnceNamingTheCudaBackends()
    {
        SkipWithAGpu();
        Assert.IsFalse(Devices.IsCudaAvailable);
        Assert.AreEqual(DeviceType.CPU, Devices.BestAvailable.type);
        ExpectNoCuda(() => Devices.Cuda());
        ExpectNoCuda(() => Devices.Cuda(1));
        ExpectNoCuda(() => Devices.EnsureAvailable(new Device(DeviceType.CUDA, 0)));
        ExpectNoCuda(() => Devices.EnsureAvailable(Devices.Parse("cuda:0")));
        // the process is fine afterwards
        using var scope = NewDisposeScope();
        Assert.AreEqual(4.0, (ones(2) + 1).sum().ToDouble());
    }

    [TestMethod]
    public void CudaWithoutAGpu_StopsTrainingAndLoadingBeforeAnyWork()
    {
        SkipWithAGpu();
        var data = new SyntheticDataset(new SyntheticDatasetOptions { ImageSize = 40, ClassCount = 2, Seed = 3, MinVisiblePixels = 12 }, 2);
        var options = new RrmTrainingOptions { Backbone = BackboneKind.SmallCnn, Iterations = 1, BatchSize = 1, CropSize = 40, Threads = 1, Device = new Device(DeviceType.CUDA, 0) };
        int reports = 0;
        ExpectNoCuda(() => new RrmTrainer(options).Train(WeakDataset.From(data), new SyncProgress(() => reports++)).Dispose());
        Assert.AreEqual(0, reports);

        string fixture = Path.Combine(TestData.RepoRoot, "Wsss.Tests", "Fixtures", "model-v0.1-smallcnn", "smallcnn.safetensors");
        if (File.Exists(fixture))
        {
            ExpectNoCuda(() => SegmentationModel.Load(fixture, new Device(DeviceType.CUDA, 0)).Dispose());
        }
    }

    private sealed class SyncProgress(Action onReport) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => onReport();
    }

    [TestMethod]
    public void EnsureAvailable_AcceptsTheCpu_AndRejectsOtherDeviceTypes()
    {
        Devices.EnsureAvailable(Devices.Cpu);
        Devices.EnsureAvailable(CPU);
        var ex = Assert.ThrowsExactly<InvalidOperationException>(() => Devices.EnsureAvailable(new Device(DeviceType.MPS, 0)));
        StringAssert.Contains(ex.Message, "CPU or CUDA");
        Assert.ThrowsExactly<ArgumentNullException>(() => Devices.EnsureAvailable(null!));
    }

    [TestMethod]
    public void Parse_CpuCudaAndCudaN_RejectsOtherText()
    {
        Assert.AreEqual(DeviceType.CPU, Devices.Parse(" CPU ").type);
        Assert.AreEqual("cpu", Devices.Parse("cpu").ToString());
        foreach (string text in new[] { "cuda", "GPU", "cuda:0" })
        {
            var d = Devices.Parse(text);
            Assert.AreEqual((DeviceType.CUDA, 0), (d.type, d.index), text);
        }

        var one = Devices.Parse("cuda:1");
        Assert.AreEqual((DeviceType.CUDA, 1), (one.type, one.index));
        Assert.AreEqual("cuda:1", one.ToString());
        // Parsing does not check availability (that is EnsureAvailable's job), so a GPU that is absent parses.
        Assert.AreEqual(7, Devices.Parse("cuda:7").index);
        foreach (string bad in new[] { "tpu", "cuda:-1", "cuda:", "cuda:x", "cuda:1:2", "", "cpu:0" })
        {
            var e = Assert.ThrowsExactly<FormatException>(() => Devices.Parse(bad), $"'{bad}'");
            StringAssert.Contains(e.Message, "cuda:N");
        }

        Assert.ThrowsExactly<ArgumentNullException>(() => Devices.Parse(null!));
    }
}
