using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using static Wsss.Tests.Torch.TorchAssert;
using static Wsss.Torch.Torch;

namespace Wsss.Tests.Torch;

[TestClass]
public sealed class ViewsTests
{
    // x = [[0, 1, 2], [3, 4, 5]]
    private static Tensor X() => Arange(0, 6, dtype: DType.Float32).Reshape(2, 3);

    [TestMethod]
    public void ReshapeAndPermute()
    {
        using var scope = NewDisposeScope();
        var x = X();
        Shape(x, 2, 3);
        var r = x.Reshape(3, -1);
        Shape(r, 3, 2);
        Close([0, 1, 2, 3, 4, 5], r);
        var t = x.Permute(1, 0);
        Shape(t, 3, 2);
        Close([0, 3, 1, 4, 2, 5], t, what: "transpose read row-major");
        var c = FromArray(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 4).Permute(2, 0, 1);
        Shape(c, 4, 2, 3);
        // c[k, i, j] = i*12 + j*4 + k: c[1, 1, 2] = 12 + 8 + 1
        Assert.AreEqual(21.0, c.Select(0, 1).Select(0, 1).Select(0, 2).Item());
        Shape(x.Unsqueeze(0), 1, 2, 3);
        Shape(x.Unsqueeze(-1), 2, 3, 1);
        Shape(x.Unsqueeze(1).Unsqueeze(0).Squeeze(), 2, 3);
        Shape(x.Unsqueeze(0).Unsqueeze(2).Squeeze(0), 2, 1, 3);
    }

    [TestMethod]
    public void SliceAndSelectAreViewsOfTheSameStorage()
    {
        using var scope = NewDisposeScope();
        var x = X();
        Close([1, 2, 4, 5], x.Slice(1, 1, 3));
        Close([0, 2, 3, 5], x.Slice(1, 0, 3, 2));
        Close([3, 4, 5], x.Slice(0, 1, long.MaxValue), what: "end clipped like a Python slice");
        Close([1, 4], x.Select(1, 1));
        Close([3, 4, 5], x.Select(0, -1));
        x.Select(1, 2).Fill(-7);
        Close([0, 1, -7, 3, 4, -7], x, what: "writing through a view changes the base");
    }

    [TestMethod]
    public void IndexSelectAndGather()
    {
        using var scope = NewDisposeScope();
        var x = X();
        var idx = FromArray(new long[] { 2, 0, 2 }, 3);
        Close([2, 0, 2, 5, 3, 5], x.IndexSelect(1, idx));
        Close([3, 4, 5, 0, 1, 2], x.IndexSelect(0, FromArray(new long[] { 1, 0 }, 2)));
        // out[i][j] = x[i][index[i][j]]
        var g = x.Gather(1, FromArray(new long[] { 2, 2, 0, 1 }, 2, 2));
        Shape(g, 2, 2);
        Close([2, 2, 3, 4], g);
        // out[i][j] = x[index[i][j]][j]
        Close([3, 1, 5], x.Gather(0, FromArray(new long[] { 1, 0, 1 }, 1, 3)));
    }

    [TestMethod]
    public void CatStackFlipExpand()
    {
        using var scope = NewDisposeScope();
        var x = X();
        var y = FromArray(new float[] { 10, 11, 12 }, 1, 3);
        var c0 = Cat([x, y], 0);
        Shape(c0, 3, 3);
        Close([0, 1, 2, 3, 4, 5, 10, 11, 12], c0);
        var c1 = Cat([x, x.Slice(1, 0, 1)], 1);
        Shape(c1, 2, 4);
        Close([0, 1, 2, 0, 3, 4, 5, 3], c1);
        var s0 = Stack([x, x * 2], 0);
        Shape(s0, 2, 2, 3);
        Close([0, 1, 2, 3, 4, 5, 0, 2, 4, 6, 8, 10], s0);
        var s2 = Stack([x, x * 2], 2);
        Shape(s2, 2, 3, 2);
        Close([0, 0, 1, 2, 2, 4, 3, 6, 4, 8, 5, 10], s2);
        Close([2, 1, 0, 5, 4, 3], x.Flip(1));
        Close([3, 4, 5, 0, 1, 2], x.Flip(0));
        Close([5, 4, 3, 2, 1, 0], x.Flip(0, 1));
        var e = y.Expand(4, -1);
        Shape(e, 4, 3);
        Close([10, 11, 12, 10, 11, 12, 10, 11, 12, 10, 11, 12], e);
        Close([7, 7, 8, 8], FromArray(new float[] { 7, 8 }, 2, 1).Expand(2, 2));
    }
}
