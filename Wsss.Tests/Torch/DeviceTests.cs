using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using Wsss.Torch.Nn;
using static Wsss.Torch.Torch;

namespace Wsss.Tests.Torch;

[TestClass]
public sealed class DeviceTests
{
    [TestMethod]
    public void CudaWithoutAGpuFailsCleanly()
    {
        if (Device.IsCudaAvailable)
        {
            Assert.Inconclusive($"{Device.CudaDeviceCount} CUDA device(s) present: the no-GPU error path cannot be exercised here.");
        }

        Assert.AreEqual(Device.Cpu, Device.BestAvailable);
        void Expect(Action a)
        {
            var ex = Assert.ThrowsExactly<InvalidOperationException>(a);
            StringAssert.Contains(ex.Message, "CUDA");
        }

        Expect(() => Device.Cuda.EnsureAvailable());
        Expect(() => Zeros([2], device: Device.Cuda));
        Expect(() => FromArray<float>(new float[] { 1 }, [1], Device.Cuda));
        Expect(() => Rand([2], device: Device.Parse("cuda:0")));
        using var t = Ones([2]);
        Expect(() => t.To(Device.Cuda));
        using var conv = new Conv2d(1, 1, 1);
        Expect(() => conv.To(Device.Cuda));
        Assert.AreEqual(Device.Cpu, conv.Weight.Device, "a failed move leaves the module where it was");
        // the process is fine afterwards
        using var s = t + 1;
        Assert.AreEqual(4.0, s.Sum().Item());
    }

    [TestMethod]
    public void ParseAndFormat()
    {
        Assert.AreEqual(Device.Cpu, Device.Parse(" CPU "));
        Assert.AreEqual(Device.CudaAt(1), Device.Parse("cuda:1"));
        Assert.AreEqual(Device.Cuda, Device.Parse("gpu"));
        Assert.AreEqual("cuda:1", Device.CudaAt(1).ToString());
        Assert.AreEqual("cpu", Device.Cpu.ToString());
        Assert.ThrowsExactly<FormatException>(() => Device.Parse("tpu"));
        Assert.ThrowsExactly<FormatException>(() => Device.Parse("cuda:-1"));
    }
}
