using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Torch;
using Wsss.Torch.Nn;
using Wsss.Torch.Optim;
using static Wsss.Tests.Torch.TorchAssert;
using static Wsss.Torch.Torch;
using F = Wsss.Torch.Functional;

namespace Wsss.Tests.Torch;

[TestClass]
public sealed class ModuleTests
{
    private sealed class Net : TensorModule
    {
        public Net()
        {
            Conv1 = RegisterModule("conv1", new Conv2d(3, 4, 3, padding: 1));
            Bn1 = RegisterModule("bn1", new BatchNorm2d(4));
            Head = RegisterModule("head", new Sequential(new Lambda(F.Relu), new Conv2d(4, 2, 1)));
        }

        public Conv2d Conv1 { get; }

        public BatchNorm2d Bn1 { get; }

        public Sequential Head { get; }

        public override Tensor Forward(Tensor input) => Head.Forward(Bn1.Forward(Conv1.Forward(input)));
    }

    private static Net NewNet(ulong seed)
    {
        ManualSeed(seed);
        return new Net();
    }

    [TestMethod]
    public void NamedParametersBuffersAndModulesUseDottedKeys()
    {
        using var net = NewNet(1);
        CollectionAssert.AreEqual(
            new[] { "conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "head.1.weight", "head.1.bias" },
            net.NamedParameters().Select(p => p.Key).ToArray());
        CollectionAssert.AreEqual(
            new[] { "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked" },
            net.NamedBuffers().Select(p => p.Key).ToArray());
        CollectionAssert.AreEqual(new[] { "conv1", "bn1", "head", "head.0", "head.1" }, net.NamedModules().Select(m => m.Key).ToArray());
        Assert.AreEqual(9, net.StateDict().Count);
        Assert.AreEqual(4 * 3 * 9 + 4 + 4 + 4 + 2 * 4 + 2, net.ParameterCount());
        Assert.IsTrue(net.Parameters().All(p => p.RequiresGrad));
        Assert.AreSame(net.Conv1.Weight, net.StateDict()["conv1.weight"], "the state dict holds the live tensors");
    }

    [TestMethod]
    public void StateDictRoundTripGivesIdenticalOutputs()
    {
        using var scope = NewDisposeScope();
        using var a = NewNet(1);
        using var b = NewNet(2);
        var x = Randn([2, 3, 6, 6]);
        a.Forward(x);   // training mode: moves a's running statistics away from their initial values
        CollectionAssert.AreNotEqual(a.Conv1.Weight.ToArray<float>(), b.Conv1.Weight.ToArray<float>());

        var missing = b.LoadStateDict(a.StateDict());
        Assert.IsEmpty(missing);
        a.Eval();
        b.Eval();
        CollectionAssert.AreEqual(a.Forward(x).ToArray<float>(), b.Forward(x).ToArray<float>());
        CollectionAssert.AreEqual(a.Bn1.RunningMean.ToArray<float>(), b.Bn1.RunningMean.ToArray<float>());
        Assert.AreEqual(1L, b.Bn1.NumBatchesTracked.ToArray<long>()[0]);

        // values are copied, not shared
        a.Conv1.Weight.Detach().Fill(0);
        Assert.IsTrue(b.Conv1.Weight.ToArray<float>().Any(v => v != 0));
    }

    [TestMethod]
    public void LoadStateDictErrorsNameTheKey()
    {
        using var scope = NewDisposeScope();
        using var a = NewNet(1);
        using var b = NewNet(2);
        var before = b.Conv1.Weight.ToArray<float>();

        var state = a.StateDict().Where(kv => kv.Key != "bn1.running_var").ToDictionary();
        var ex = Assert.ThrowsExactly<InvalidDataException>(() => b.LoadStateDict(state));
        StringAssert.Contains(ex.Message, "bn1.running_var");
        CollectionAssert.AreEquivalent(new[] { "bn1.running_var" }, b.LoadStateDict(state, strict: false).ToArray());

        var extra = a.StateDict().ToDictionary();
        extra["head.2.weight"] = Zeros([1]);
        ex = Assert.ThrowsExactly<InvalidDataException>(() => b.LoadStateDict(extra));
        StringAssert.Contains(ex.Message, "head.2.weight");

        var wrong = a.StateDict().ToDictionary();
        wrong["head.1.weight"] = Zeros([2, 4, 3, 3]);
        wrong["conv1.weight"] = Zeros([4, 3, 3, 3]);
        ex = Assert.ThrowsExactly<InvalidDataException>(() => b.LoadStateDict(wrong));
        StringAssert.Contains(ex.Message, "head.1.weight");
        StringAssert.Contains(ex.Message, "(2, 4, 3, 3)");
        ex = Assert.ThrowsExactly<InvalidDataException>(() => b.LoadStateDict(wrong, strict: false));
        StringAssert.Contains(ex.Message, "head.1.weight");

        // the failed strict loads changed nothing, the non-strict one earlier loaded everything but one key
        using var c = NewNet(3);
        var cBefore = c.Conv1.Weight.ToArray<float>();
        Assert.ThrowsExactly<InvalidDataException>(() => c.LoadStateDict(wrong));
        CollectionAssert.AreEqual(cBefore, c.Conv1.Weight.ToArray<float>(), "a shape error aborts before copying anything");
        CollectionAssert.AreNotEqual(before, b.Conv1.Weight.ToArray<float>());
    }

    [TestMethod]
    public void FreezeAndUnfreeze()
    {
        using var net = NewNet(1);
        net.Freeze();
        Assert.IsTrue(net.Parameters().All(p => !p.RequiresGrad));
        net.Unfreeze();
        Assert.IsTrue(net.Parameters().All(p => p.RequiresGrad));
        net.Bn1.Frozen = true;
        net.Unfreeze();
        Assert.IsFalse(net.Bn1.Weight.RequiresGrad, "Unfreeze leaves a frozen BatchNorm frozen");
        Assert.IsTrue(net.Conv1.Weight.RequiresGrad);
        net.Bn1.Frozen = false;
        Assert.IsTrue(net.Bn1.Weight.RequiresGrad && net.Bn1.Bias.RequiresGrad);
    }

    [TestMethod]
    public void FrozenBatchNormKeepsRunningStatisticsAndGetsNoGradient()
    {
        using var net = NewNet(4);
        // give the running statistics non-trivial values first (train mode, not frozen)
        using (var s = NewDisposeScope())
        {
            net.Forward(Randn([2, 3, 5, 5]) * 3 + 1);
        }

        net.Bn1.Frozen = true;
        net.Train();
        var mean = net.Bn1.RunningMean.ToArray<float>();
        var var_ = net.Bn1.RunningVar.ToArray<float>();
        var tracked = net.Bn1.NumBatchesTracked.ToArray<long>();
        var gamma = net.Bn1.Weight.ToArray<float>();
        var conv = net.Conv1.Weight.ToArray<float>();
        using var opt = new Sgd([new ParameterGroup("all", net.Parameters())], 0.1);
        for (int step = 0; step < 2; step++)
        {
            using var s = NewDisposeScope();
            opt.ZeroGrad();
            net.Forward(Randn([2, 3, 5, 5])).Square().Mean().Backward();
            Assert.IsNull(net.Bn1.Weight.Grad, "a frozen BatchNorm's weight gets no gradient");
            Assert.IsNull(net.Bn1.Bias.Grad);
            Assert.IsNotNull(net.Conv1.Weight.Grad);
            opt.Step();
        }

        CollectionAssert.AreEqual(mean, net.Bn1.RunningMean.ToArray<float>());
        CollectionAssert.AreEqual(var_, net.Bn1.RunningVar.ToArray<float>());
        CollectionAssert.AreEqual(tracked, net.Bn1.NumBatchesTracked.ToArray<long>());
        CollectionAssert.AreEqual(gamma, net.Bn1.Weight.ToArray<float>());
        CollectionAssert.AreNotEqual(conv, net.Conv1.Weight.ToArray<float>(), "the rest of the network trained");

        // frozen means eval behaviour even in training mode: output equals eval-mode output
        using var scope = NewDisposeScope();
        var x = Randn([2, 4, 3, 3]);
        var train = net.Bn1.Forward(x).ToArray<float>();
        net.Bn1.Frozen = false;
        net.Bn1.Eval();
        CollectionAssert.AreEqual(train, net.Bn1.Forward(x).ToArray<float>());
    }

    [TestMethod]
    public void TrainAndEvalPropagateToDescendants()
    {
        using var net = NewNet(1);
        Assert.IsTrue(net.IsTraining && net.NamedModules().All(m => m.Value.IsTraining));
        net.Eval();
        Assert.IsFalse(net.IsTraining);
        Assert.IsTrue(net.NamedModules().All(m => !m.Value.IsTraining), "every descendant, including Sequential children");
        net.Train();
        Assert.IsTrue(net.NamedModules().All(m => m.Value.IsTraining));
        net.Head.Eval();
        Assert.IsFalse(net.Head.Layers[1].IsTraining);
        Assert.IsTrue(net.Conv1.IsTraining);

        // eval-mode BatchNorm leaves the running statistics alone; train mode moves them
        using var scope = NewDisposeScope();
        var x = Randn([2, 3, 4, 4]) + 5;
        net.Eval();
        net.Forward(x);
        Close([0, 0, 0, 0], net.Bn1.RunningMean);
        net.Train();
        net.Forward(x);
        Assert.IsTrue(net.Bn1.RunningMean.ToArray<float>().Any(v => v != 0));
    }

    [TestMethod]
    public void DisposeFreesParametersAndBuffers()
    {
        var net = NewNet(1);
        var w = net.Head.Layers[1] is Conv2d c ? c.Weight : throw new InvalidOperationException();
        net.Dispose();
        Assert.IsTrue(w.IsDisposed && net.Bn1.RunningMean.IsDisposed && net.Conv1.Bias!.IsDisposed);
        net.Dispose();
    }
}
