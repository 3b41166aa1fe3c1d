using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using Wsss;
using Wsss.Torch.Optim;
using static Wsss.Tests.Torch.TorchAssert;
using static Wsss.Torch.Torch;

namespace Wsss.Tests.Torch;

/// <summary>Optimiser updates against the update rules written out in the test (PyTorch's torch.optim).</summary>
[TestClass]
public sealed class OptimizerTests
{
    // loss = 1/2 sum(c * p^2), so grad = c * p: it changes with p, which exercises the state handling
    private static readonly double[] CA = [0.5, 1, 2];
    private static readonly double[] CB = [3, -1];

    private static Tensor Param(params double[] v)
    {
        var p = FromArray(v, v.Length);
        p.RequiresGrad = true;
        return p;
    }

    private static void Backward(Tensor p, double[] c)
    {
        using var scope = NewDisposeScope();
        ((p * p * FromArray(c, c.Length)).Sum() * 0.5).Backward();
    }

    private static void Backward((Tensor P, double[] C)[] ps)
    {
        foreach (var (p, c) in ps)
        {
            Backward(p, c);
        }
    }

    private static double[] Grad(double[] p, double[] c) => p.Select((v, i) => v * c[i]).ToArray();

    /// <summary>torch.optim.SGD for one parameter, in managed code.</summary>
    private sealed class SgdRef(double momentum, double dampening, double weightDecay, bool nesterov)
    {
        private double[]? buf;

        public void Step(double[] p, double[] g, double lr)
        {
            var d = g.Select((v, i) => v + weightDecay * p[i]).ToArray();
            if (momentum != 0)
            {
                buf = buf is null ? (double[])d.Clone() : buf.Select((b, i) => momentum * b + (1 - dampening) * d[i]).ToArray();
                d = nesterov ? d.Select((v, i) => v + momentum * buf[i]).ToArray() : buf;
            }

            for (int i = 0; i < p.Length; i++) p[i] -= lr * d[i];
        }
    }

    /// <summary>torch.optim.AdamW for one parameter, in managed code.</summary>
    private sealed class AdamWRef(double b1, double b2, double eps, double weightDecay)
    {
        private double[]? m, v;
        private int t;

        public void Step(double[] p, double[] g, double lr)
        {
            t++;
            m ??= new double[p.Length];
            v ??= new double[p.Length];
            for (int i = 0; i < p.Length; i++)
            {
                p[i] *= 1 - lr * weightDecay;
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                double mHat = m[i] / (1 - Math.Pow(b1, t));
                double denom = Math.Sqrt(v[i]) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps;
                p[i] -= lr * mHat / denom;
            }
        }
    }

    [TestMethod]
    public void SgdPlainStepsFollowTheFormulaAndTheCurrentLearningRate()
    {
        using var scope = NewDisposeScope();
        var p = Param(1, -2, 3);
        double[] expected = [1, -2, 3];
        using var opt = new Sgd([new ParameterGroup("g", [p])], 0.1);
        foreach (double lr in new[] { 0.1, 0.05, 0.3 })
        {
            opt.LearningRate = lr;
            opt.ZeroGrad();
            Backward(p, CA);
            var g = Grad(expected, CA);
            for (int i = 0; i < 3; i++) expected[i] -= lr * g[i];
            opt.Step();
            Close(expected, p, 1e-14);
        }

        Assert.AreEqual(3L, opt.StepCount);
        Assert.IsTrue(p.RequiresGrad, "the step does not detach the parameter");
    }

    [TestMethod]
    public void SgdMomentumWeightDecayDampeningNesterovAndGroups()
    {
        foreach (var (momentum, dampening, nesterov) in new[] { (0.9, 0.0, false), (0.9, 0.1, false), (0.8, 0.0, true), (0.0, 0.0, false) })
        {
            using var scope = NewDisposeScope();
            var pa = Param(1, -2, 3);
            var pb = Param(0.5, 4);
            double[] ea = [1, -2, 3], eb = [0.5, 4];
            var ra = new SgdRef(momentum, dampening, 0.01, nesterov);
            var rb = new SgdRef(momentum, dampening, 0.001, nesterov);
            using var opt = new Sgd(
                [new ParameterGroup("a", [pa], 1, weightDecay: 0.01), new ParameterGroup("b", [pb], learningRateMultiplier: 10, weightDecay: 0.001)],
                0.02, momentum, dampening, nesterov);
            foreach (double lr in new[] { 0.02, 0.01, 0.005, 0.001 })
            {
                opt.LearningRate = lr;
                opt.ZeroGrad();
                Backward([(pa, CA), (pb, CB)]);
                ra.Step(ea, Grad(ea, CA), lr);
                rb.Step(eb, Grad(eb, CB), lr * 10);
                opt.Step();
                string what = $"momentum {momentum} dampening {dampening} nesterov {nesterov} lr {lr}";
                Close(ea, pa, 1e-13, what + " group a");
                Close(eb, pb, 1e-13, what + " group b (x10)");
            }
        }
    }

    [TestMethod]
    public void AdamWFirstStepsFollowTheFormula()
    {
        using var scope = NewDisposeScope();
        var pa = Param(1, -2, 3);
        var pb = Param(0.5, 4);
        double[] ea = [1, -2, 3], eb = [0.5, 4];
        var ra = new AdamWRef(0.9, 0.99, 1e-8, 0.1);
        var rb = new AdamWRef(0.9, 0.99, 1e-8, 0);
        using var opt = new AdamW([new ParameterGroup("a", [pa], 1, 0.1), new ParameterGroup("b", [pb], 2, 0)], 0.01, 0.9, 0.99, 1e-8);
        foreach (double lr in new[] { 0.01, 0.01, 0.005, 0.02 })
        {
            opt.LearningRate = lr;
            opt.ZeroGrad();
            Backward([(pa, CA), (pb, CB)]);
            ra.Step(ea, Grad(ea, CA), lr);
            rb.Step(eb, Grad(eb, CB), lr * 2);
            opt.Step();
            Close(ea, pa, 1e-12, $"group a lr {lr}");
            Close(eb, pb, 1e-12, $"group b lr {lr}");
        }

        // the very first AdamW step moves each coordinate by about lr (sign of the gradient): a sanity anchor
        var p = Param(5);
        using var first = new AdamW([new ParameterGroup("p", [p])], 0.1);
        Backward(p, [2]);
        first.Step();
        Assert.AreEqual(4.9, p.Item(), 1e-6);
    }

    private static Optimizer Make(bool adam, Tensor pa, Tensor pb) => adam
        ? new AdamW([new ParameterGroup("a", [pa], 1, 0.1), new ParameterGroup("b", [pb], 3, 0)], 0.01)
        : new Sgd([new ParameterGroup("a", [pa], 1, 0.01), new ParameterGroup("b", [pb], 3, 0)], 0.01, momentum: 0.9);

    [TestMethod]
    public void StateDictRoundTripContinuesIdentically()
    {
        foreach (bool adam in new[] { false, true })
        {
            using var scope = NewDisposeScope();
            var pa = Param(1, -2, 3);
            var pb = Param(0.5, 4);
            using var opt = Make(adam, pa, pb);
            for (int i = 0; i < 2; i++)
            {
                opt.ZeroGrad();
                Backward([(pa, CA), (pb, CB)]);
                opt.Step();
            }

            var saved = opt.StateDict();
            Assert.IsTrue(saved.ContainsKey("step"));
            Assert.AreEqual(adam ? 5 : 3, saved.Count, string.Join(", ", saved.Keys));

            // two independent restores of the same saved state must not share buffers with it or each other
            var copies = Enumerable.Range(0, 2).Select(_ =>
            {
                var qa = Param(pa.ToArray<double>());
                var qb = Param(pb.ToArray<double>());
                var o = Make(adam, qa, qb);
                o.LoadStateDict(saved);
                Assert.AreEqual(2L, o.StepCount);
                return (qa, qb, o);
            }).ToArray();

            for (int i = 0; i < 3; i++)
            {
                opt.ZeroGrad();
                Backward([(pa, CA), (pb, CB)]);
                opt.Step();
                foreach (var (qa, qb, o) in copies)
                {
                    o.ZeroGrad();
                    Backward([(qa, CA), (qb, CB)]);
                    o.Step();
                }
            }

            foreach (var (qa, qb, o) in copies)
            {
                CollectionAssert.AreEqual(pa.ToArray<double>(), qa.ToArray<double>(), $"{(adam ? "AdamW" : "SGD")} group a after restore");
                CollectionAssert.AreEqual(pb.ToArray<double>(), qb.ToArray<double>(), $"{(adam ? "AdamW" : "SGD")} group b after restore");
                o.Dispose();
            }

            foreach (var t in saved.Values)
            {
                t.Dispose();
            }
        }
    }

    [TestMethod]
    public void LoadStateDictRejectsForeignState()
    {
        using var scope = NewDisposeScope();
        var pa = Param(1, -2, 3);
        var pb = Param(0.5, 4);
        using var opt = Make(false, pa, pb);
        var ex = Assert.ThrowsExactly<InvalidDataException>(() => opt.LoadStateDict(new Dictionary<string, Tensor> { ["group7.momentum.0"] = Zeros([3]) }));
        StringAssert.Contains(ex.Message, "group7");
        ex = Assert.ThrowsExactly<InvalidDataException>(() => opt.LoadStateDict(new Dictionary<string, Tensor> { ["group0.momentum.0"] = Zeros([4]) }));
        StringAssert.Contains(ex.Message, "group0.momentum.0");
    }
    [TestMethod]
    public void FailedStepReportsTheErrorAndKeepsTheStateItCreated()
    {
        using var scope = NewDisposeScope();
        var good = FromArray(new double[] { 1, 2 }, 2);
        good.RequiresGrad = true;
        // A leaf view whose three elements share one memory location: the in-place update of it fails in libtorch.
        var overlapping = Zeros([1], DType.Float64).Expand(3);
        overlapping.RequiresGrad = true;
        (good.Sum() + overlapping.Sum()).Backward();
        using var sgd = new Sgd([new ParameterGroup("g", [good, overlapping])], 0.1, momentum: 0.9);
        var error = Assert.ThrowsExactly<WsssNativeException>(sgd.Step);
        StringAssert.Contains(error.Message, "memory location");
        // The first parameter was updated before the failure; its momentum buffer belongs to the optimiser now
        // (it used to leak and the state fell behind the parameters).
        Close([0.9, 1.9], good.Detach());
        var state = sgd.StateDict();
        Assert.IsTrue(state.ContainsKey("group0.momentum.0"), string.Join(", ", state.Keys));
        Close([1, 1], state["group0.momentum.0"]);
    }
}
