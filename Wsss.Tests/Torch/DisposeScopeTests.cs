using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using static Wsss.Tests.Torch.TorchAssert;
using static Wsss.Torch.Torch;

namespace Wsss.Tests.Torch;

[TestClass]
public sealed class DisposeScopeTests
{
    [TestMethod]
    public void TensorsCreatedInAScopeAreDisposedAtItsEnd()
    {
        var outside = Ones([2]);
        Tensor a, b, c;
        using (var scope = NewDisposeScope())
        {
            a = Ones([2]);
            b = a + outside;
            c = b.Reshape(2, 1);
            Assert.AreEqual(3, scope.Count);
            Assert.IsFalse(a.IsDisposed);
        }

        Assert.IsTrue(a.IsDisposed && b.IsDisposed && c.IsDisposed);
        Assert.IsFalse(outside.IsDisposed, "tensors from before the scope are not its own");
        Close([1, 1], outside);
        outside.Dispose();
    }

    [TestMethod]
    public void MoveToOuterScopeAndDetachKeepTensors()
    {
        Tensor moved, detached, inner;
        using (var outer = NewDisposeScope())
        {
            using (var scope = NewDisposeScope())
            {
                inner = Full([1], 3);
                moved = (inner * 2).MoveToOuterScope();
                detached = (inner * 5).DetachFromDisposeScope();
                Assert.AreEqual(1, scope.Count);
                Assert.AreEqual(1, outer.Count);
            }

            Assert.IsTrue(inner.IsDisposed);
            Assert.IsFalse(moved.IsDisposed);
            Assert.AreEqual(6.0, moved.Item());
        }

        Assert.IsTrue(moved.IsDisposed, "a tensor moved out is disposed by the outer scope");
        Assert.IsFalse(detached.IsDisposed);
        Assert.AreEqual(15.0, detached.Item());
        detached.Dispose();

        // moving out of the outermost scope leaves the tensor to the caller
        Tensor free;
        using (NewDisposeScope())
        {
            free = Full([1], 1).MoveToOuterScope();
        }

        Assert.IsFalse(free.IsDisposed);
        free.Dispose();
    }

    [TestMethod]
    public void NestedScopesDisposeOnlyTheirOwnTensors()
    {
        using var outer = NewDisposeScope();
        var o = Ones([1]);
        Tensor i1;
        using (NewDisposeScope())
        {
            i1 = o + 1;
            using (NewDisposeScope())
            {
                var deepest = i1 + 1;
                Assert.AreEqual(3.0, deepest.Item());
            }

            Assert.IsFalse(i1.IsDisposed);
            Assert.AreEqual(1, outer.Count);
        }

        Assert.IsTrue(i1.IsDisposed);
        Assert.IsFalse(o.IsDisposed);
        Assert.AreEqual(1.0, o.Item());
    }

    [TestMethod]
    public void ScopesAreThreadLocalAndMustCloseInnermostFirst()
    {
        Tensor fromOtherThread = null!;
        using (NewDisposeScope())
        {
            var t = new Thread(() => fromOtherThread = Ones([1]));
            t.Start();
            t.Join();
        }

        Assert.IsFalse(fromOtherThread.IsDisposed, "a scope collects only its own thread's tensors");
        fromOtherThread.Dispose();

        var outer = NewDisposeScope();
        var inner = NewDisposeScope();
        Assert.ThrowsExactly<InvalidOperationException>(() => outer.Dispose());
        // the misuse leaves the stack as it was: closing in order still works
        var u = Ones([1]);
        inner.Dispose();
        Assert.IsTrue(u.IsDisposed);
        var v = Ones([1]);
        outer.Dispose();
        Assert.IsTrue(v.IsDisposed, "the outer scope still closes after the failed attempt");
        Assert.IsNull(DisposeScope.Current, "no scope is left open on this thread");
    }

    [TestMethod]
    public void DisposingTwiceOrDisposingScopedTensorsEarlyIsHarmless()
    {
        Tensor a;
        using (var scope = NewDisposeScope())
        {
            a = Ones([4]);
            a.Dispose();
            a.Dispose();
            Assert.AreEqual(0, scope.Count);
        }

        Assert.IsTrue(a.IsDisposed);
        Assert.AreEqual("Tensor(disposed)", a.ToString());
    }
}
