using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using Wsss.Model;
using Wsss.Training;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Engine;

/// <summary>
/// <see cref="GroupedSgd"/> (torch.optim.SGD's update over RRM's parameter groups) against the update rule written out
/// here (PyTorch's torch.optim.SGD) and bit for bit against TorchSharp's optim.SGD, and its state as checkpoints store it.
/// </summary>
[TestClass]
public sealed class GroupedSgdTests
{
    // loss = 1/2 sum(c * p^2), so grad = c * p: it changes with p, which exercises the state handling
    private static readonly double[] CA = [0.5, 1, 2];
    private static readonly double[] CB = [3, -1];

    private static Parameter Param(params double[] v) => new(tensor(v));

    private static void Backward(Tensor p, double[] c)
    {
        using var scope = NewDisposeScope();
        ((p * p * tensor(c)).sum() * 0.5).backward();
    }

    private static void Backward(params (Tensor P, double[] C)[] ps)
    {
        foreach (var (p, c) in ps)
        {
            Backward(p, c);
        }
    }

    private static double[] Grad(double[] p, double[] c) => p.Select((v, i) => v * c[i]).ToArray();

    private static RrmParameterGroup Group(string name, double multiplier, double weightDecay, params Parameter[] parameters) =>
        new(name, parameters, multiplier, weightDecay);

    /// <summary>torch.optim.SGD for one parameter (no dampening, no Nesterov: what RRM uses), in managed code.</summary>
    private sealed class SgdRef(double momentum, double weightDecay)
    {
        private double[]? buf;

        public void Step(double[] p, double[] g, double lr)
        {
            var d = g.Select((v, i) => v + (weightDecay * p[i])).ToArray();
            if (momentum != 0)
            {
                buf = buf is null ? (double[])d.Clone() : buf.Select((b, i) => (momentum * b) + d[i]).ToArray();
                d = buf;
            }

            for (int i = 0; i < p.Length; i++)
            {
                p[i] -= lr * d[i];
            }
        }
    }

    [TestMethod]
    public void PlainSteps_FollowTheFormula_AtTheCurrentLearningRate()
    {
        using var scope = NewDisposeScope();
        var p = Param(1, -2, 3);
        double[] expected = [1, -2, 3];
        using var opt = new GroupedSgd([Group("g", 1, 0, p)], 0.1, momentum: 0);
        foreach (double lr in new[] { 0.1, 0.05, 0.3 })
        {
            opt.LearningRate = lr;
            Assert.AreEqual(lr, opt.LearningRate);
            opt.ZeroGrad();
            Backward(p, CA);
            var g = Grad(expected, CA);
            for (int i = 0; i < 3; i++)
            {
                expected[i] -= lr * g[i];
            }

            opt.Step();
            Close(expected, p, 1e-14);
        }

        Assert.AreEqual(3L, opt.StepCount);
        Assert.IsTrue(p.requires_grad, "the step does not detach the parameter");
        CollectionAssert.AreEqual(new[] { "step" }, opt.StateDict().Keys.ToArray(), "no momentum, no buffers");
    }

    [TestMethod]
    public void MomentumWeightDecayAndGroupMultipliers_FollowTheFormula()
    {
        foreach (double momentum in new[] { 0.9, 0.0 })
        {
            using var scope = NewDisposeScope();
            var pa = Param(1, -2, 3);
            var pb = Param(0.5, 4);
            double[] ea = [1, -2, 3], eb = [0.5, 4];
            var ra = new SgdRef(momentum, 0.01);
            var rb = new SgdRef(momentum, 0.001);
            using var opt = new GroupedSgd([Group("a", 1, 0.01, pa), Group("b", 10, 0.001, pb)], 0.02, momentum);
            foreach (double lr in new[] { 0.02, 0.01, 0.005, 0.001 })
            {
                opt.LearningRate = lr;
                opt.ZeroGrad();
                Backward((pa, CA), (pb, CB));
                ra.Step(ea, Grad(ea, CA), lr);
                rb.Step(eb, Grad(eb, CB), lr * 10);
                opt.Step();
                string what = $"momentum {momentum} lr {lr}";
                Close(ea, pa, 1e-13, what + " group a");
                Close(eb, pb, 1e-13, what + " group b (x10)");
            }
        }
    }

    [TestMethod]
    public void RrmGroups_MoveEachParameterAtItsGroupsRate()
    {
        // The real groups of an RRM network: after one plain step from zero momentum, every trained parameter moved by
        // -lr * multiplier * (grad + decay * p), so the four multipliers (1, 2, 10, 20) and the decays are all applied.
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var net = new RrmNetwork(new MobileNetV1(0.25, classes: 4, frozenBatchNorm: true), 2);
        var groups = net.ParameterGroups(weightDecay: 0.01);
        Assert.IsTrue(groups.All(g => g.Parameters.Count > 0), "all four groups are non-empty here");
        using var opt = new GroupedSgd(groups, 0.1, momentum: 0);
        opt.LearningRate = 1e-3;
        using var output = net.forward(randn(1, 3, 40, 40));
        (output.ClassLogits.sum() + output.SegmentationLogits.square().mean()).backward();
        var before = groups.Select(g => g.Parameters.Select(p => Values(p)).ToArray()).ToArray();
        var grads = groups.Select(g => g.Parameters.Select(p => p.grad is null ? null : Values(p.grad)).ToArray()).ToArray();
        opt.Step();
        for (int g = 0; g < groups.Length; g++)
        {
            double rate = 1e-3 * groups[g].LearningRateMultiplier;
            for (int k = 0; k < groups[g].Parameters.Count; k++)
            {
                double[] p0 = before[g][k], after = Values(groups[g].Parameters[k]);
                double[]? grad = grads[g][k];
                double[] expected = grad is null ? p0 : p0.Select((v, i) => v - (rate * (grad[i] + (groups[g].WeightDecay * v)))).ToArray();
                Close(expected, after, 1e-5, $"{groups[g].Name} parameter {k}");
            }
        }
    }

    [TestMethod]
    public void Updates_AreBitIdenticalToTorchSharpsSgd()
    {
        // GroupedSgd writes torch.optim.SGD's update itself (its Scalars kept alive); with no collection racing it,
        // TorchSharp's SGD is the reference, run here over the same groups, rates, decays and gradients.
        using var scope = NewDisposeScope();
        manual_seed(5);
        Tensor a0 = randn(7, 3), b0 = randn(5);
        var mine = (A: new Parameter(a0.clone()), B: new Parameter(b0.clone()));
        var theirs = (A: new Parameter(a0.clone()), B: new Parameter(b0.clone()));
        Tensor ca = rand(7, 3), cb = rand(5);
        using var grouped = new GroupedSgd([Group("a", 1, 5e-4, mine.A), Group("b", 20, 0, mine.B)], 0.01, momentum: 0.9);
        var groups = new[] { new SGD.ParamGroup([theirs.A], lr: 0.01, momentum: 0.9, weight_decay: 5e-4), new SGD.ParamGroup([theirs.B], lr: 0.2, momentum: 0.9, weight_decay: 0) };
        using var reference = optim.SGD(groups, 0.01, 0.9);
        foreach (double lr in new[] { 0.01, 0.008, 0.005, 0.001, 0.0001 })
        {
            grouped.LearningRate = lr;
            groups[0].LearningRate = lr;
            groups[1].LearningRate = lr * 20;
            foreach (var (p, q, c) in new[] { (mine.A, theirs.A, ca), (mine.B, theirs.B, cb) })
            {
                using var inner = NewDisposeScope();
                (p * p * c).sum().backward();
                (q * q * c).sum().backward();
            }

            grouped.Step();
            reference.step();
            grouped.ZeroGrad();
            reference.zero_grad();
            CollectionAssert.AreEqual(theirs.A.data<float>().ToArray(), mine.A.data<float>().ToArray(), $"group a at lr {lr}");
            CollectionAssert.AreEqual(theirs.B.data<float>().ToArray(), mine.B.data<float>().ToArray(), $"group b at lr {lr}");
        }

        Assert.AreEqual(0f, mine.A.grad!.abs().max().item<float>(), "ZeroGrad zeroes in place");
    }

    private static GroupedSgd Make(Parameter pa, Parameter pb) =>
        new([Group("a", 1, 0.01, pa), Group("empty", 2, 0), Group("b", 3, 0, pb)], 0.01, momentum: 0.9);

    [TestMethod]
    public void StateDictRoundTrip_ContinuesIdentically()
    {
        using var scope = NewDisposeScope();
        var pa = Param(1, -2, 3);
        var pb = Param(0.5, 4);
        using var opt = Make(pa, pb);
        for (int i = 0; i < 2; i++)
        {
            opt.ZeroGrad();
            Backward((pa, CA), (pb, CB));
            opt.Step();
        }

        var saved = opt.StateDict();
        // An empty group keeps its index, so group b is still "group2" (checkpoints index groups by position).
        CollectionAssert.AreEquivalent(new[] { "step", "group0.momentum.0", "group2.momentum.0" }, saved.Keys.ToArray());
        Assert.AreEqual(2L, saved["step"].item<long>());
        double[] savedA = Values(saved["group0.momentum.0"]);

        // two independent restores of the same saved state must not share buffers with it or each other
        var copies = Enumerable.Range(0, 2).Select(_ =>
        {
            var qa = Param(Values(pa));
            var qb = Param(Values(pb));
            var o = Make(qa, qb);
            o.LoadStateDict(saved);
            Assert.AreEqual(2L, o.StepCount);
            return (qa, qb, o);
        }).ToArray();

        for (int i = 0; i < 3; i++)
        {
            opt.ZeroGrad();
            Backward((pa, CA), (pb, CB));
            opt.Step();
            foreach (var (qa, qb, o) in copies)
            {
                o.ZeroGrad();
                Backward((qa, CA), (qb, CB));
                o.Step();
            }
        }

        foreach (var (qa, qb, o) in copies)
        {
            CollectionAssert.AreEqual(Values(pa), Values(qa), "group a after restore");
            CollectionAssert.AreEqual(Values(pb), Values(qb), "group b after restore");
            Assert.AreEqual(5L, o.StepCount);
            o.Dispose();
        }

        CollectionAssert.AreEqual(savedA, Values(saved["group0.momentum.0"]), "the saved state is a copy, not the live buffer");
        foreach (var t in saved.Values)
        {
            t.Dispose();
        }
    }

    [TestMethod]
    public void LoadStateDict_RejectsForeignState_AndAnEmptyStateResets()
    {
        using var scope = NewDisposeScope();
        var pa = Param(1, -2, 3);
        var pb = Param(0.5, 4);
        using var opt = Make(pa, pb);
        var ex = Assert.ThrowsExactly<InvalidDataException>(() => opt.LoadStateDict(new Dictionary<string, Tensor> { ["group7.momentum.0"] = zeros(3) }));
        StringAssert.Contains(ex.Message, "group7");
        ex = Assert.ThrowsExactly<InvalidDataException>(() => opt.LoadStateDict(new Dictionary<string, Tensor> { ["group0.momentum.0"] = zeros(4) }));
        StringAssert.Contains(ex.Message, "group0.momentum.0");
        ex = Assert.ThrowsExactly<InvalidDataException>(() => opt.LoadStateDict(new Dictionary<string, Tensor> { ["group1.momentum.0"] = zeros(3) }));
        StringAssert.Contains(ex.Message, "group1.momentum.0", "the empty group has no parameter 0");

        // After a step, loading an empty state drops the momentum: the next step is a plain one again.
        opt.ZeroGrad();
        Backward((pa, CA), (pb, CB));
        opt.Step();
        opt.LoadStateDict(new Dictionary<string, Tensor>());
        Assert.AreEqual(0L, opt.StepCount);
        CollectionAssert.AreEqual(new[] { "step" }, opt.StateDict().Keys.ToArray());
    }
}
