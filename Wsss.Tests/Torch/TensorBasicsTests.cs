using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using F = Wsss.Torch.Functional;

namespace Wsss.Tests.Torch;

[TestClass]
public sealed class TensorBasicsTests
{
    [TestMethod]
    public void RoundTripKeepsValuesShapeAndDtype()
    {
        using var t = Wsss.Torch.Torch.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        CollectionAssert.AreEqual(new long[] { 2, 3 }, t.Shape.ToArray());
        Assert.AreEqual(DType.Float32, t.DType);
        Assert.AreEqual(Device.Cpu, t.Device);
        CollectionAssert.AreEqual(new float[] { 1, 2, 3, 4, 5, 6 }, t.ToArray<float>());
    }

    [TestMethod]
    public void ArithmeticMatchesHandComputedValues()
    {
        using var scope = Wsss.Torch.Torch.NewDisposeScope();
        var a = Wsss.Torch.Torch.FromArray(new float[] { 1, -2, 3, 4 }, 2, 2);
        var b = Wsss.Torch.Torch.FromArray(new float[] { 10, 20 }, 2);
        // broadcasting adds b to each row: [[11, 18], [13, 24]]
        CollectionAssert.AreEqual(new float[] { 11, 18, 13, 24 }, (a + b).ToArray<float>());
        CollectionAssert.AreEqual(new float[] { -9, -22, -7, -16 }, (a - b).ToArray<float>());
        CollectionAssert.AreEqual(new float[] { 10, -40, 30, 80 }, (a * b).ToArray<float>());
        CollectionAssert.AreEqual(new float[] { 0.5f, -1, 1.5f, 2 }, (a / 2).ToArray<float>());
        CollectionAssert.AreEqual(new float[] { 1, 4, 9, 16 }, a.Pow(2).ToArray<float>());
        CollectionAssert.AreEqual(new float[] { 1, 0, 3, 3 }, a.Clamp(0, 3).ToArray<float>());
        CollectionAssert.AreEqual(new bool[] { false, false, true, true }, (a > 2.5).ToArray<bool>());
        CollectionAssert.AreEqual(new float[] { 9, 12, 7, 6 }, (10 - a).ToArray<float>());
        Assert.AreEqual(6.0, a.Sum().Item());
        Assert.AreEqual(1.5, a.Mean().Item());
        CollectionAssert.AreEqual(new float[] { 4, 2 }, a.Sum(0).ToArray<float>());
        CollectionAssert.AreEqual(new long[] { 0, 1 }, a.Argmax(1).ToArray<long>());
    }
}
