using TorchSharp;
using Wsss.Engine;
using TorchSharp.Modules;
using TorchSharp.Utils;
using Wsss.Model.Layers;
using Wsss.Onnx;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// The wide pre-activation ResNet-38 of Wu, Shen and van den Hengel ("Wider or deeper", 2019) at output
/// stride 8, the backbone of PSA and RRM: conv1a (3x3, 64), three stride-2 stages b2 (128), b3 (256),
/// b4 (512), the dilated stage b5 (rate 2, 1024), the bottleneck blocks b6 (rate 4, 2048, dropout 0.3)
/// and b7 (rate 4, 4096, dropout 0.5), and a final BatchNorm + ReLU (bn7). Parameter names follow the
/// reference PyTorch definition ("conv1a.weight", "b2.bn_branch2a.weight", "b2.conv_branch1.weight",
/// "b6.conv_branch2b2.weight", "bn7.running_var", ...), so converted ImageNet weights load unchanged.
/// Input: ImageNet mean/std normalisation.
/// </summary>
public sealed class ResNet38 : Backbone, IOnnxExportable
{
    private readonly List<nn.Module<Tensor, Tensor>> blocks = new();
    private readonly Conv2d conv1a;
    private readonly FreezableBatchNorm2d bn7;

    /// <summary>Creates the network with PyTorch's default initialisation.</summary>
    /// <param name="frozenBatchNorm">Freeze every BatchNorm (default true, as RRM).</param>
    public ResNet38(bool frozenBatchNorm = true)
        : base(nameof(ResNet38))
    {
        conv1a = nn.Conv2d(3, 64, 3, padding: 1, bias: false);
        register_module("conv1a", conv1a);
        Add("b2", new WideBlock(64, 128, 128, stride: 2));
        Add("b2_1", new WideBlock(128, 128, 128));
        Add("b2_2", new WideBlock(128, 128, 128));
        Add("b3", new WideBlock(128, 256, 256, stride: 2));
        Add("b3_1", new WideBlock(256, 256, 256));
        Add("b3_2", new WideBlock(256, 256, 256));
        Add("b4", new WideBlock(256, 512, 512, stride: 2));
        for (int i = 1; i <= 5; i++)
        {
            Add($"b4_{i}", new WideBlock(512, 512, 512));
        }

        Add("b5", new WideBlock(512, 512, 1024, firstDilation: 1, dilation: 2));
        Add("b5_1", new WideBlock(1024, 512, 1024, dilation: 2));
        Add("b5_2", new WideBlock(1024, 512, 1024, dilation: 2));
        Add("b6", new BottleneckBlock(1024, 2048, dilation: 4, dropout: 0.3));
        Add("b7", new BottleneckBlock(2048, 4096, dilation: 4, dropout: 0.5));
        bn7 = new FreezableBatchNorm2d(4096);
        register_module("bn7", bn7);
        FrozenBatchNorm = frozenBatchNorm;
    }

    /// <inheritdoc/>
    public override BackboneKind Kind => BackboneKind.ResNet38;

    /// <inheritdoc/>
    public override long OutputChannels => 4096;

    /// <inheritdoc/>
    public override InputNormalization Normalization => InputNormalization.ImageNet;

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        Tensor x = conv1a.forward(input);
        foreach (var block in blocks)
        {
            x = block.forward(x);
        }

        return nn.functional.relu(bn7.forward(x));
    }

    /// <summary>conv1a, every block (dropout left out), bn7 and ReLU.</summary>
    string IOnnxExportable.ExportOnnx(OnnxGraph graph, string input, string name)
    {
        string x = graph.Conv(input, $"{name}.conv1a", conv1a);
        foreach (var (blockName, block) in named_children().Where(c => c.module is WideBlock or BottleneckBlock).Select(c => (c.name, c.module)))
        {
            x = ((IOnnxExportable)block).ExportOnnx(graph, x, $"{name}.{blockName}");
        }

        return graph.Relu(graph.BatchNorm(x, $"{name}.bn7", bn7));
    }

    private void Add(string name, nn.Module<Tensor, Tensor> block)
    {
        register_module(name, block);
        blocks.Add(block);
    }

    /// <summary>
    /// Pre-activation basic block: BN-ReLU, then a 3x3 (stride, first dilation) and, after BN-ReLU, a
    /// 3x3 (dilation); the shortcut is the identity, or a 1x1 projection of the pre-activated input.
    /// </summary>
    private sealed class WideBlock : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        // The component names are the registered (reference) names: TorchSharp registers a module's fields again, under
        // their C# names, when the module itself is registered in a parent, which doubled every entry of the state dict
        // ("b2.bnBranch2a.weight" beside "b2.bn_branch2a.weight"), so reference weights and 0.1 model files no longer fit.
        [ComponentName(Name = "bn_branch2a")]
        private readonly FreezableBatchNorm2d bnBranch2a;
        [ComponentName(Name = "conv_branch2a")]
        private readonly Conv2d convBranch2a;
        [ComponentName(Name = "bn_branch2b1")]
        private readonly FreezableBatchNorm2d bnBranch2b1;
        [ComponentName(Name = "conv_branch2b1")]
        private readonly Conv2d convBranch2b1;
        [ComponentName(Name = "conv_branch1")]
        private readonly Conv2d? convBranch1;

        public WideBlock(long inChannels, long midChannels, long outChannels, long stride = 1, long? firstDilation = null, long dilation = 1)
            : base(nameof(WideBlock))
        {
            long first = firstDilation ?? dilation;
            bnBranch2a = new FreezableBatchNorm2d(inChannels);
            convBranch2a = nn.Conv2d(inChannels, midChannels, 3, stride, padding: first, dilation: first, bias: false);
            bnBranch2b1 = new FreezableBatchNorm2d(midChannels);
            convBranch2b1 = nn.Conv2d(midChannels, outChannels, 3, padding: dilation, dilation: dilation, bias: false);
            register_module("bn_branch2a", bnBranch2a);
            register_module("conv_branch2a", convBranch2a);
            register_module("bn_branch2b1", bnBranch2b1);
            register_module("conv_branch2b1", convBranch2b1);
            if (inChannels != outChannels || stride != 1)
            {
                convBranch1 = nn.Conv2d(inChannels, outChannels, 1, stride, bias: false);
                register_module("conv_branch1", convBranch1);
            }
        }

        public override Tensor forward(Tensor input)
        {
            var preActivated = nn.functional.relu(bnBranch2a.forward(input));
            var shortcut = convBranch1 is null ? input : convBranch1.forward(preActivated);
            var a = nn.functional.relu(bnBranch2b1.forward(convBranch2a.forward(preActivated)));
            return shortcut.Plus(convBranch2b1.forward(a));
        }

        public string ExportOnnx(OnnxGraph graph, string input, string name)
        {
            string preActivated = graph.Relu(graph.BatchNorm(input, $"{name}.bn_branch2a", bnBranch2a));
            string shortcut = convBranch1 is null ? input : graph.Conv(preActivated, $"{name}.conv_branch1", convBranch1);
            string a = graph.Relu(graph.Conv(preActivated, $"{name}.conv_branch2a", convBranch2a, bnBranch2b1));
            return graph.Add(shortcut, graph.Conv(a, $"{name}.conv_branch2b1", convBranch2b1), $"{name}.add");
        }
    }

    /// <summary>
    /// Pre-activation bottleneck: BN-ReLU, 1x1 to out/4, BN-ReLU-dropout, 3x3 (dilated) to out/2,
    /// BN-ReLU-dropout, 1x1 to out; the shortcut is a 1x1 projection of the pre-activated input.
    /// </summary>
    private sealed class BottleneckBlock : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        [ComponentName(Name = "bn_branch2a")]
        private readonly FreezableBatchNorm2d bnBranch2a;
        [ComponentName(Name = "conv_branch2a")]
        private readonly Conv2d convBranch2a;
        [ComponentName(Name = "bn_branch2b1")]
        private readonly FreezableBatchNorm2d bnBranch2b1;
        [ComponentName(Name = "conv_branch2b1")]
        private readonly Conv2d convBranch2b1;
        [ComponentName(Name = "bn_branch2b2")]
        private readonly FreezableBatchNorm2d bnBranch2b2;
        [ComponentName(Name = "conv_branch2b2")]
        private readonly Conv2d convBranch2b2;
        [ComponentName(Name = "conv_branch1")]
        private readonly Conv2d convBranch1;
        private readonly double dropout;

        public BottleneckBlock(long inChannels, long outChannels, long dilation, double dropout)
            : base(nameof(BottleneckBlock))
        {
            this.dropout = dropout;
            bnBranch2a = new FreezableBatchNorm2d(inChannels);
            convBranch2a = nn.Conv2d(inChannels, outChannels / 4, 1, bias: false);
            bnBranch2b1 = new FreezableBatchNorm2d(outChannels / 4);
            convBranch2b1 = nn.Conv2d(outChannels / 4, outChannels / 2, 3, padding: dilation, dilation: dilation, bias: false);
            bnBranch2b2 = new FreezableBatchNorm2d(outChannels / 2);
            convBranch2b2 = nn.Conv2d(outChannels / 2, outChannels, 1, bias: false);
            convBranch1 = nn.Conv2d(inChannels, outChannels, 1, bias: false);
            register_module("bn_branch2a", bnBranch2a);
            register_module("conv_branch2a", convBranch2a);
            register_module("bn_branch2b1", bnBranch2b1);
            register_module("conv_branch2b1", convBranch2b1);
            register_module("bn_branch2b2", bnBranch2b2);
            register_module("conv_branch2b2", convBranch2b2);
            register_module("conv_branch1", convBranch1);
        }

        public override Tensor forward(Tensor input)
        {
            var preActivated = nn.functional.relu(bnBranch2a.forward(input));
            var shortcut = convBranch1.forward(preActivated);
            var a = nn.functional.relu(bnBranch2b1.forward(convBranch2a.forward(preActivated)));
            var b = nn.functional.relu(bnBranch2b2.forward(convBranch2b1.forward(nn.functional.dropout2d(a, dropout, training))));
            var c = convBranch2b2.forward(nn.functional.dropout2d(b, dropout, training));
            return shortcut.Plus(c);
        }

        public string ExportOnnx(OnnxGraph graph, string input, string name)
        {
            string preActivated = graph.Relu(graph.BatchNorm(input, $"{name}.bn_branch2a", bnBranch2a));
            string shortcut = graph.Conv(preActivated, $"{name}.conv_branch1", convBranch1);
            string a = graph.Relu(graph.Conv(preActivated, $"{name}.conv_branch2a", convBranch2a, bnBranch2b1));
            string b = graph.Relu(graph.Conv(a, $"{name}.conv_branch2b1", convBranch2b1, bnBranch2b2));
            return graph.Add(shortcut, graph.Conv(b, $"{name}.conv_branch2b2", convBranch2b2), $"{name}.add");
        }
    }
}
