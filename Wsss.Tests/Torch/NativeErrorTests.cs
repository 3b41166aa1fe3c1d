using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using static Wsss.Tests.Torch.TorchAssert;
using static Wsss.Torch.Torch;
using F = Wsss.Torch.Functional;

namespace Wsss.Tests.Torch;

/// <summary>libtorch errors arrive as WsssNativeException with libtorch's message, and the process lives on.</summary>
[TestClass]
public sealed class NativeErrorTests
{
    private static WsssNativeException AssertNativeError(Action action, string expectedPart)
    {
        var ex = Assert.ThrowsExactly<WsssNativeException>(action);
        StringAssert.Contains(ex.Message, expectedPart);
        Assert.IsFalse(ex.Message.Contains("frame #", StringComparison.Ordinal), $"C++ backtrace in the message: {ex.Message}");
        Assert.IsFalse(ex.Message.Contains("Exception raised from", StringComparison.Ordinal), $"C++ source location in the message: {ex.Message}");
        StillWorks();
        return ex;
    }

    private static void StillWorks()
    {
        using var scope = NewDisposeScope();
        var a = FromArray(new float[] { 1, 2 }, 2);
        Close([2, 4], a + a);
    }

    [TestMethod]
    public void MismatchedShapesInAdd()
    {
        using var scope = NewDisposeScope();
        var a = Zeros([3]);
        var b = Zeros([4]);
        var ex = AssertNativeError(() => _ = a + b, "The size of tensor a (3) must match the size of tensor b (4)");
        // the operands are still usable after the failure
        Close([0, 0, 0], a * 2);
    }

    [TestMethod]
    public void MismatchedShapesInMatMul()
    {
        using var scope = NewDisposeScope();
        AssertNativeError(() => _ = Zeros([2, 3]).MatMul(Zeros([4, 5])), "cannot be multiplied (2x3 and 4x5)");
    }

    [TestMethod]
    public void Conv2dWithWrongChannelCount()
    {
        using var scope = NewDisposeScope();
        var x = Zeros([1, 3, 8, 8]);
        var w = Zeros([4, 2, 3, 3]);
        var ex = AssertNativeError(() => F.Conv2d(x, w), "to have 2 channels, but got 3 channels instead");
        StringAssert.Contains(ex.Message, "[1, 3, 8, 8]");
    }

    [TestMethod]
    public void CrossEntropyTargetOutOfRange()
    {
        using var scope = NewDisposeScope();
        AssertNativeError(() => F.CrossEntropy(Zeros([2, 3]), FromArray(new long[] { 0, 7 }, 2)), "out of bounds");
    }

    [TestMethod]
    public void ErrorsOnManyThreadsKeepTheirOwnMessages()
    {
        // the last error is thread-local: concurrent failures must not swap messages
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, i =>
        {
            using var scope = NewDisposeScope();
            for (int k = 0; k < 5; k++)
            {
                try
                {
                    _ = Zeros([i + 2]) + Zeros([i + 20]);
                    failures.Add("no exception");
                }
                catch (WsssNativeException e)
                {
                    if (!e.Message.Contains($"tensor a ({i + 2}) must match the size of tensor b ({i + 20})", StringComparison.Ordinal))
                    {
                        failures.Add(e.Message);
                    }
                }
            }
        });
        Assert.IsEmpty(failures, string.Join("\n", failures));
        StillWorks();
    }

    [TestMethod]
    public void ManagedArgumentErrorsAreCaughtBeforeNativeCalls()
    {
        using var scope = NewDisposeScope();
        Assert.ThrowsExactly<ArgumentException>(() => FromArray(new float[] { 1, 2, 3 }, 2, 2));
        var t = FromArray(new float[] { 1, 2 }, 2);
        Assert.ThrowsExactly<InvalidOperationException>(() => t.ToArray<double>());
        var d = FromArray(new float[] { 1 }, 1);
        d.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => _ = d + d);
        StillWorks();
    }
}
