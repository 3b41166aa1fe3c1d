using System.Runtime.InteropServices;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Losses;
using Wsss.Model;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Engine;

/// <summary>
/// libtorch errors reach .NET as <see cref="ExternalException"/> with libtorch's message (TorchSharp's
/// convention), also from inside Wsss code, and the process and its tensors live on.
/// </summary>
/// <remarks>
/// The old binding also stripped libtorch's C++ backtrace ("Exception raised from ...", "frame #") from the
/// message; TorchSharp passes c10::Error::what() through unchanged, so that check is gone: the messages only
/// have to contain libtorch's own first line. The old matmul case is gone too: TorchSharp 0.107's THSTensor_matmul
/// (like THSGenerator_set_rng_state) has no try/catch, so a shape error there terminates the process. Wsss calls
/// neither with unchecked input (the checkpoint loader validates the generator state first, see TrainerTests).
/// </remarks>
[TestClass]
public sealed class NativeErrorTests
{
    private static ExternalException AssertNativeError(Action action, string expectedPart)
    {
        var ex = Assert.ThrowsExactly<ExternalException>(action);
        StringAssert.Contains(ex.Message, expectedPart);
        StillWorks();
        return ex;
    }

    private static void StillWorks()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2 });
        Close([2, 4], a + a);
    }

    [TestMethod]
    public void MismatchedShapesInAdd()
    {
        using var scope = NewDisposeScope();
        var a = zeros(3);
        var b = zeros(4);
        AssertNativeError(() => _ = a + b, "The size of tensor a (3) must match the size of tensor b (4)");
        // the operands are still usable after the failure
        Close([0, 0, 0], a * 2);
    }

    [TestMethod]
    public void WrongChannelCountThroughAWsssNetwork()
    {
        // Four-channel images into networks built for RGB. MobileNetV1's convolutions are functional, so libtorch's
        // own check reports it; SmallCnn's are TorchSharp Conv2d modules, which check in managed code first.
        using var scope = NewDisposeScope();
        using var backbone = new SmallCnn();
        var managed = Assert.ThrowsExactly<ArgumentException>(() => backbone.forward(zeros(1, 4, 32, 32)));
        StringAssert.Contains(managed.Message, "3 channels");
        StillWorks();

        using var net = new RrmNetwork(new MobileNetV1(0.25), 2);
        net.eval();
        using (no_grad())
        {
            // (the input libtorch names is the padded one: TensorFlow 'same' padding makes it 33 x 33)
            AssertNativeError(() => net.forward(zeros(1, 4, 32, 32)).Dispose(), "to have 3 channels, but got 4 channels instead");
            // the network still runs on proper input afterwards
            using var output = net.forward(zeros(1, 3, 32, 32));
            Shape(output.SegmentationLogits, 1, 3, 4, 4);
        }
    }

    [TestMethod]
    public void CrossEntropyTargetOutOfRange()
    {
        using var scope = NewDisposeScope();
        AssertNativeError(() => nn.functional.cross_entropy(zeros(2, 3), tensor(new long[] { 0, 7 })), "out of bounds");
        // through the seeded loss: a seed label beyond the classes (not 255) is libtorch's error too
        AssertNativeError(() => SeededCrossEntropy.Compute(zeros(1, 3, 2, 2), tensor(new long[] { 0, 1, 9, 255 }, [1, 2, 2])).Dispose(), "out of bounds");
    }

    [TestMethod]
    public void ErrorsOnManyThreadsKeepTheirOwnMessages()
    {
        // TorchSharp keeps the last error per thread: concurrent failures must not swap messages.
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            using var scope = NewDisposeScope();
            for (int k = 0; k < 20; k++)
            {
                try
                {
                    _ = zeros(i + 2) + zeros(i + 20);
                    failures.Add("no exception");
                }
                catch (ExternalException e)
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
    public void WsssArgumentErrorsComeBeforeNativeCalls()
    {
        // Wsss checks what it can in managed code and names the argument, instead of a libtorch error deep inside.
        using var scope = NewDisposeScope();
        Assert.ThrowsExactly<ArgumentException>(() => SeededCrossEntropy.Compute(zeros(1, 3, 2, 2), zeros(1, 2, 2)));
        Assert.ThrowsExactly<ArgumentException>(() => ClassificationLoss.Compute(zeros(2, 3), zeros(2, 4)));
        using var net = new RrmNetwork(new SmallCnn(), 2);
        var e = Assert.ThrowsExactly<ArgumentException>(() => net.MultiScaleCam(zeros(1, 3, 16, 16), zeros(1, 5)));
        StringAssert.Contains(e.Message, "(1, 2)");
        StillWorks();
    }
}
