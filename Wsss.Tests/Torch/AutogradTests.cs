using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using static Wsss.Tests.Torch.TorchAssert;
using static Wsss.Torch.Torch;

namespace Wsss.Tests.Torch;

[TestClass]
public sealed class AutogradTests
{
    [TestMethod]
    public void BackwardComputesAndAccumulatesGradients()
    {
        using var scope = NewDisposeScope();
        var x = FromArray(new double[] { 1, -2, 3 }, 3);
        Assert.IsFalse(x.RequiresGrad);
        Assert.IsNull(x.Grad, "no gradient before backward");
        x.RequiresGrad = true;
        // d/dx sum(x^3 + 2x) = 3x^2 + 2
        (x.Pow(3) + x * 2).Sum().Backward();
        Close([5, 14, 29], x.Grad!);
        // a second backward accumulates
        (x * x).Sum().Backward();
        Close([7, 10, 35], x.Grad!);
        x.ZeroGrad();
        Assert.IsNull(x.Grad, "ZeroGrad drops the gradient");
    }

    [TestMethod]
    public void Relu6InPlace_ClampsAndBackpropagatesThroughTheProducer()
    {
        using var scope = NewDisposeScope();
        var x = FromArray(new double[] { -1, 0.5, 2, 4 }, 4);
        x.RequiresGrad = true;
        var y = (x * 2).Relu6InPlace();
        Close([0, 1, 4, 6], y);
        y.Sum().Backward();
        // d/dx relu6(2x) = 2 inside (0, 6), 0 where clamped.
        Close([0, 2, 2, 0], x.Grad!);
    }

    [TestMethod]
    public void ExplicitUpstreamGradientAndRetainGraph()
    {
        using var scope = NewDisposeScope();
        var x = FromArray(new double[] { 1, 2 }, 2);
        x.RequiresGrad = true;
        var y = x * x;
        y.Backward(FromArray(new double[] { 10, 100 }, 2), retainGraph: true);
        Close([20, 400], x.Grad!);
        y.Backward(FromArray(new double[] { 1, 1 }, 2));
        Close([22, 404], x.Grad!, what: "second pass through the retained graph");
        var ex = Assert.ThrowsExactly<WsssNativeException>(() => y.Backward(FromArray(new double[] { 1, 1 }, 2)));
        StringAssert.Contains(ex.Message, "backward through the graph a second time");
    }

    [TestMethod]
    public void NoGradDetachAndGradMode()
    {
        using var scope = NewDisposeScope();
        var x = FromArray(new float[] { 1, 2 }, 2);
        x.RequiresGrad = true;
        Assert.IsTrue(IsGradEnabled);
        using (NoGrad())
        {
            Assert.IsFalse(IsGradEnabled);
            Assert.IsFalse((x * 2).RequiresGrad);
            using (EnableGrad())
            {
                Assert.IsTrue((x * 2).RequiresGrad);
            }

            Assert.IsFalse(IsGradEnabled, "the inner scope restores the outer mode");
        }

        Assert.IsTrue(IsGradEnabled);
        Assert.IsTrue((x * 2).RequiresGrad);
        var d = (x * 2).Detach();
        Assert.IsFalse(d.RequiresGrad);
        var ex = Assert.ThrowsExactly<WsssNativeException>(() => d.Sum().Backward());
        StringAssert.Contains(ex.Message, "does not require grad");
        // a gradient flows only through the non-detached path: d/dx (x * detach(x)) = detach(x)
        (x * x.Detach()).Sum().Backward();
        Close([1, 2], x.Grad!);
    }

    [TestMethod]
    public void GradModeIsPerThread()
    {
        using (NoGrad())
        {
            bool other = true;
            var t = new Thread(() => other = IsGradEnabled);
            t.Start();
            t.Join();
            Assert.IsTrue(other, "NoGrad on one thread does not disable gradients on another");
        }
    }
}
