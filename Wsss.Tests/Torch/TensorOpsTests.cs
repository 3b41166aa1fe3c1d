using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using static Wsss.Tests.Torch.TorchAssert;
using static Wsss.Torch.Torch;

namespace Wsss.Tests.Torch;

[TestClass]
public sealed class TensorOpsTests
{
    [TestMethod]
    public void ArithmeticBroadcastsAndKeepsIntegersIntegral()
    {
        using var scope = NewDisposeScope();
        var a = FromArray(new double[] { 1, -2, 3, 4, 5, 6 }, 2, 3);
        var col = FromArray(new double[] { 10, 100 }, 2, 1);
        // (2,3) + (2,1): the column is repeated along dim 1
        Close([11, 8, 13, 104, 105, 106], a + col);
        Close([-9, -12, -7, -96, -95, -94], a - col);
        Close([10, -20, 30, 400, 500, 600], a * col);
        Close([0.1, -0.2, 0.3, 0.04, 0.05, 0.06], a / col);
        Close([3, 0, 5, 6, 7, 8], a + 2);
        Close([3, 0, 5, 6, 7, 8], 2 + a);
        Close([-1, 2, -3, -4, -5, -6], -a);
        Close([9, 12, 7, 6, 5, 4], 10 - a);
        Close([12, -6, 4, 3, 2.4, 2], 12 / a);
        Close([1, 4, 9, 16, 25, 36], a.Pow(2));
        Close([1, 4, 27, 256, 3125, 46656], a.Pow(FromArray(new double[] { 0, -2, 3, 4, 5, 6 }, 2, 3).Abs()));

        var i = FromArray(new long[] { 7, -3 }, 2);
        var sum = i + 2;
        Assert.AreEqual(DType.Int64, sum.DType, "integer + integral scalar stays integral");
        CollectionAssert.AreEqual(new long[] { 9, -1 }, sum.ToArray<long>());
        var div = i / 2;
        Assert.AreEqual(DType.Float32, div.DType, "true division of integers gives the default float type");
        Close([3.5, -1.5], div);
        Close([1.5, 1.5], (i * 0.5).Abs() - FromArray(new float[] { 2, 0 }, 2), 1e-6);
    }

    [TestMethod]
    public void ComparisonsAndLogicGiveBooleans()
    {
        using var scope = NewDisposeScope();
        var a = FromArray(new float[] { 1, 2, 3, 4 }, 4);
        var b = FromArray(new float[] { 4, 2, 1, 5 }, 4);
        CollectionAssert.AreEqual(new[] { true, false, false, true }, (a < b).ToArray<bool>());
        CollectionAssert.AreEqual(new[] { true, true, false, true }, (a <= b).ToArray<bool>());
        CollectionAssert.AreEqual(new[] { false, false, true, false }, (a > b).ToArray<bool>());
        CollectionAssert.AreEqual(new[] { false, true, true, false }, (a >= b).ToArray<bool>());
        CollectionAssert.AreEqual(new[] { false, true, false, false }, a.Eq(b).ToArray<bool>());
        CollectionAssert.AreEqual(new[] { true, false, true, true }, a.Ne(b).ToArray<bool>());
        CollectionAssert.AreEqual(new[] { false, false, true, false }, a.Eq(3).ToArray<bool>());
        CollectionAssert.AreEqual(new[] { false, true, true, true }, (a >= 2).ToArray<bool>());
        var p = a > 1.5;
        var q = b > 1.5;
        Assert.AreEqual(DType.Bool, p.DType);
        CollectionAssert.AreEqual(new[] { false, true, false, true }, (p & q).ToArray<bool>());
        CollectionAssert.AreEqual(new[] { true, true, true, true }, (p | q).ToArray<bool>());
        CollectionAssert.AreEqual(new[] { true, false, false, false }, (!p).ToArray<bool>());
        Close([4, 2, 3, 5], a.Maximum(b));
        Close([1, 2, 1, 4], a.Minimum(b));
    }

    [TestMethod]
    public void ReductionsOverAllAndSelectedDimensions()
    {
        using var scope = NewDisposeScope();
        // [[3, 9, 1], [4, -2, 8]]
        var a = FromArray(new double[] { 3, 9, 1, 4, -2, 8 }, 2, 3);
        Assert.AreEqual(23.0, a.Sum().Item());
        Assert.AreEqual(23.0 / 6, a.Mean().Item(), 1e-12);
        Assert.AreEqual(9.0, a.Max().Item());
        Assert.AreEqual(-2.0, a.Min().Item());
        Assert.AreEqual(3.0 * 9 * 1 * 4 * -2 * 8, a.Prod().Item());
        Close([7, 7, 9], a.Sum(0));
        Close([13, 10], a.Sum(1));
        Shape(a.Sum(1, keepDim: true), 2, 1);
        Close([23], a.Sum([0, 1], keepDim: true));
        Shape(a.Sum([0, 1], keepDim: true), 1, 1);
        Close([13.0 / 3, 10.0 / 3], a.Mean(1));
        Close([4, 9, 8], a.Amax([0]));
        Close([1, -2], a.Amin([1]));
        Close([Math.Log(Math.Exp(3) + Math.Exp(9) + Math.Exp(1)), Math.Log(Math.Exp(4) + Math.Exp(-2) + Math.Exp(8))], a.LogSumExp([1]), 1e-12);

        var (values, indices) = a.MaxWithIndices(1);
        Close([9, 8], values);
        CollectionAssert.AreEqual(new long[] { 1, 2 }, indices.ToArray<long>());
        var (v0, i0) = a.MaxWithIndices(0, keepDim: true);
        Shape(v0, 1, 3);
        Close([4, 9, 8], v0);
        CollectionAssert.AreEqual(new long[] { 1, 0, 1 }, i0.ToArray<long>());
        var (minV, minI) = a.MinWithIndices(1);
        Close([1, -2], minV);
        CollectionAssert.AreEqual(new long[] { 2, 1 }, minI.ToArray<long>());

        Assert.AreEqual(1L, (long)a.Argmax().Item(), "flat index of 9");
        CollectionAssert.AreEqual(new long[] { 1, 0, 1 }, a.Argmax(0).ToArray<long>());
        Shape(a.Argmax(1, keepDim: true), 2, 1);
        CollectionAssert.AreEqual(new long[] { 1, 2 }, a.Argmax(1, keepDim: true).ToArray<long>());
    }

    [TestMethod]
    public void ClampPowExpLogAndFriends()
    {
        using var scope = NewDisposeScope();
        var a = FromArray(new double[] { -3, -0.5, 0, 2, 7 }, 5);
        Close([-1, -0.5, 0, 2, 4], a.Clamp(-1, 4));
        Close([0, 0, 0, 2, 7], a.Clamp(min: 0));
        Close([-3, -0.5, 0, 1, 1], a.Clamp(max: 1));
        var p = FromArray(new double[] { 0.5, 1, 4 }, 3);
        Close([Math.Exp(0.5), Math.E, Math.Exp(4)], p.Exp(), 1e-12);
        Close([Math.Log(0.5), 0, Math.Log(4)], p.Log(), 1e-12);
        Close([Math.Sqrt(0.5), 1, 2], p.Sqrt(), 1e-12);
        Close([Math.Pow(0.5, 1.5), 1, 8], p.Pow(1.5), 1e-12);
        Close([1 / (1 + Math.Exp(-0.5)), 1 / (1 + Math.Exp(-1)), 1 / (1 + Math.Exp(-4))], p.Sigmoid(), 1e-12);
        Close([3, 0.5, 0, 2, 7], a.Abs());
        Close([-1, -1, 0, 1, 1], a.Sign());
        CollectionAssert.AreEqual(new[] { false, true, false }, FromArray(new double[] { 1, double.NaN, 0 }, 3).IsNan().ToArray<bool>());
        Assert.IsTrue(double.IsNegativeInfinity(FromArray(new double[] { 0 }, 1).Log().Item()));
    }

    [TestMethod]
    public void WhereMaskedFillAndMatMul()
    {
        using var scope = NewDisposeScope();
        var a = FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        var b = FromArray(new float[] { -1, -2, -3, -4 }, 2, 2);
        var mask = FromArray(new[] { true, false, false, true }, 2, 2);
        Close([1, -2, -3, 4], Where(mask, a, b));
        Close([0, 2, 3, 0], a.MaskedFill(mask, 0));
        // broadcast mask (1, 2): masks the second column of each row
        Close([1, 9, 3, 9], a.MaskedFill(FromArray(new[] { false, true }, 1, 2), 9));
        // [[1,2],[3,4]] @ [[5],[6]] = [[17],[39]]
        var m = a.MatMul(FromArray(new float[] { 5, 6 }, 2, 1));
        Shape(m, 2, 1);
        Close([17, 39], m);
    }

    [TestMethod]
    public void InPlaceOperationsModifyTheTensorItself()
    {
        using var scope = NewDisposeScope();
        var a = FromArray(new double[] { 1, 2, 3 }, 3);
        var same = a.AddInPlace(1).MulInPlace(2);
        Assert.AreSame(a, same);
        Close([4, 6, 8], a);
        a.AddInPlace(FromArray(new double[] { 1, 1, 1 }, 3)).MulInPlace(FromArray(new double[] { 0, 1, 2 }, 3));
        Close([0, 7, 18], a);
        a.CopyFrom(FromArray(new float[] { 5 }, 1));
        Close([5, 5, 5], a);
        Assert.AreEqual(DType.Float64, a.DType, "CopyFrom converts into the destination's dtype");
        a.Fill(-1);
        Close([-1, -1, -1], a);

        // integer tensors take integral scalars in place (BatchNorm's num_batches_tracked += 1)
        var count = Zeros([], DType.Int64);
        count.AddInPlace(1).AddInPlace(2).MulInPlace(5);
        Assert.AreEqual(DType.Int64, count.DType);
        CollectionAssert.AreEqual(new long[] { 15 }, count.Reshape(1).ToArray<long>());
        Assert.ThrowsExactly<WsssNativeException>(() => count.AddInPlace(0.5), "a fractional scalar cannot go into an integer tensor");
        a.Zero();
        Close([0, 0, 0], a);
    }

    [TestMethod]
    public void RandomNumbersRepeatAfterSeedOrStateRestore()
    {
        using var scope = NewDisposeScope();
        ManualSeed(42);
        var a = Rand([5], DType.Float64).ToArray<double>();
        ManualSeed(42);
        CollectionAssert.AreEqual(a, Rand([5], DType.Float64).ToArray<double>());
        Assert.IsTrue(a.All(v => v is >= 0 and < 1));
        var state = GetRngState();
        Assert.AreEqual(DType.UInt8, state.DType);
        var b = Randn([5], DType.Float64).ToArray<double>();
        CollectionAssert.AreNotEqual(b, Randn([5], DType.Float64).ToArray<double>());
        SetRngState(state);
        CollectionAssert.AreEqual(b, Randn([5], DType.Float64).ToArray<double>());
        CollectionAssert.AreEqual(new long[] { 2, 4, 6 }, Arange(2, 7, 2).ToArray<long>());
    }
}
