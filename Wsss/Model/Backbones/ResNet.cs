using System.Globalization;
using TorchSharp;
using Wsss.Engine;
using TorchSharp.Modules;
using Wsss.Model.Layers;
using Wsss.Onnx;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// torchvision's ResNet family (He et al. 2016; v1.5 layout: the stride of a bottleneck sits on its 3x3
/// convolution) as a feature extractor: the 7x7 stem, max pooling and four stages, without the "fc"
/// classifier, whose weights <see cref="Backbone.LoadWeights"/> reports as unused. Parameter names are
/// torchvision's ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
/// "layer2.0.downsample.1.running_var", ...), so a torchvision <c>state_dict</c> loads unchanged
/// (<see cref="TorchvisionWeights"/>).
/// Below the requested output stride the stride-2 stages become stride 1 and dilated instead, torchvision's
/// <c>replace_stride_with_dilation</c>: at output stride 8 layer3 and layer4 use dilation 2 and 4, at 16 layer4
/// uses 2. torchvision itself refuses dilation in the basic block of ResNet-18/34; here the basic block's two
/// 3x3 convolutions take the dilation the same way the bottleneck's 3x3 does (DeepLab's rule), which changes no
/// weight shape. Frozen BatchNorm is folded into the convolution before it (same function, one pass less).
/// Every variant (any depth, block counts, output stride) exports to ONNX (<see cref="Inference.SegmentationModel.ExportOnnx"/>).
/// </summary>
public abstract class ResNet : Backbone, IOnnxExportable
{
    private readonly Conv2d conv1;
    private readonly FreezableBatchNorm2d bn1;
    private readonly Sequential[] stages;
    private readonly int outputStride;
    private readonly InputNormalization normalization;

    /// <summary>Builds the network with torchvision's initialisation (Kaiming-normal fan-out convolutions).</summary>
    /// <param name="name">TorchSharp module name.</param>
    /// <param name="bottleneck">Bottleneck blocks (ResNet-50 and deeper) or basic blocks (ResNet-18/34).</param>
    /// <param name="blocks">Blocks per stage (4 stages).</param>
    /// <param name="outputStride">8, 16 or 32 (the original network).</param>
    /// <param name="frozenBatchNorm">Freeze every BatchNorm.</param>
    /// <param name="normalization">Input normalisation of the weights; null: ImageNet mean / std (torchvision's).</param>
    /// <exception cref="ArgumentException">An output stride other than 8, 16 or 32.</exception>
    protected ResNet(string name, bool bottleneck, IReadOnlyList<int> blocks, int outputStride, bool frozenBatchNorm, InputNormalization? normalization)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (blocks.Count != 4 || blocks.Any(b => b < 1))
        {
            throw new ArgumentException($"a ResNet has 4 stages of at least one block, got [{string.Join(", ", blocks)}].", nameof(blocks));
        }

        Blocks = blocks.ToArray();
        if (outputStride is not (8 or 16 or 32))
        {
            throw new ArgumentException($"the output stride must be 8, 16 or 32, got {outputStride}.", nameof(outputStride));
        }

        this.outputStride = outputStride;
        this.normalization = normalization ?? InputNormalization.ImageNet;
        long expansion = bottleneck ? Bottleneck.Expansion : 1;
        conv1 = nn.Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false);
        bn1 = new FreezableBatchNorm2d(64);
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        long inChannels = 64;
        long dilation = 1;
        int currentStride = 4;
        stages = new Sequential[blocks.Count];
        for (int s = 0; s < blocks.Count; s++)
        {
            long planes = 64L << s;
            long stride = s == 0 ? 1 : 2;
            long previousDilation = dilation;
            if (stride > 1 && currentStride >= outputStride)
            {
                dilation *= stride;
                stride = 1;
            }
            else
            {
                currentStride *= (int)stride;
            }

            // As torchvision: the first block of a dilated stage still uses the previous dilation.
            var list = new List<nn.Module<Tensor, Tensor>> { Block(bottleneck, inChannels, planes, stride, previousDilation) };
            inChannels = planes * expansion;
            for (int b = 1; b < blocks[s]; b++)
            {
                list.Add(Block(bottleneck, inChannels, planes, 1, dilation));
            }

            stages[s] = nn.Sequential(list.ToArray());
            register_module("layer" + (s + 1).ToString(CultureInfo.InvariantCulture), stages[s]);
        }

        OutputChannels = inChannels;
        foreach (var conv in modules().OfType<Conv2d>())
        {
            Init.KaimingNormalFanOut(conv.weight!);
        }

        FrozenBatchNorm = frozenBatchNorm;
    }

    /// <inheritdoc/>
    public override long OutputChannels { get; }

    /// <summary>Blocks per stage (layer1..layer4).</summary>
    public IReadOnlyList<int> Blocks { get; }

    /// <summary>
    /// Blocks per stage of the ResNet whose state-dict names are <paramref name="names"/> (with an optional prefix such
    /// as "backbone."): one more than the highest block index of each "layerN.M." name; null when no name has the form.
    /// </summary>
    public static int[]? BlocksFromNames(IEnumerable<string> names, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(names);
        var blocks = new int[4];
        foreach (string name in names)
        {
            if (!name.StartsWith(prefix + "layer", StringComparison.Ordinal))
            {
                continue;
            }

            string[] parts = name[(prefix.Length + "layer".Length)..].Split('.');
            if (parts.Length >= 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int stage) && stage is >= 1 and <= 4
                && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int block) && block >= 0)
            {
                blocks[stage - 1] = Math.Max(blocks[stage - 1], block + 1);
            }
        }

        return blocks.All(b => b > 0) ? blocks : null;
    }

    /// <inheritdoc/>
    public override int OutputStride => outputStride;

    /// <inheritdoc/>
    public override InputNormalization Normalization => normalization;

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        Tensor x = nn.functional.max_pool2d(ConvBn(conv1, bn1, input, relu: true), [3, 3], [2, 2], [1, 1]);
        foreach (var stage in stages)
        {
            x = stage.forward(x);
        }

        return x;
    }

    /// <summary>
    /// conv1 with bn1 folded in, ReLU, the 3x3 stride-2 max pool (padding 1), then every block of the four stages with the
    /// strides and dilations this output stride gave them. BatchNorm is folded as forward folds it (frozen) or as evaluation
    /// mode computes it (not frozen), so the exported weights are the ones forward uses.
    /// </summary>
    string IOnnxExportable.ExportOnnx(OnnxGraph graph, string input, string name)
    {
        string x = graph.Relu(graph.Conv(input, $"{name}.conv1", conv1, bn1));
        x = graph.Node("MaxPool", [x], $"{name}.maxpool",
            OnnxGraph.Attribute("kernel_shape", [3L, 3L]), OnnxGraph.Attribute("strides", [2L, 2L]), OnnxGraph.Attribute("pads", [1L, 1L, 1L, 1L]));
        for (int s = 0; s < stages.Length; s++)
        {
            int b = 0;
            foreach (var block in stages[s].children())
            {
                x = ((IOnnxExportable)block).ExportOnnx(graph, x, $"{name}.layer{s + 1}.{b++}");
            }
        }

        return x;
    }

    private static nn.Module<Tensor, Tensor> Block(bool bottleneck, long inChannels, long planes, long stride, long dilation) =>
        bottleneck ? new Bottleneck(inChannels, planes, stride, dilation) : new BasicBlock(inChannels, planes, stride, dilation);

    private static Sequential? Downsample(long inChannels, long outChannels, long stride) =>
        stride != 1 || inChannels != outChannels
            ? nn.Sequential(nn.Conv2d(inChannels, outChannels, 1, stride, bias: false), new FreezableBatchNorm2d(outChannels))
            : null;

    /// <summary>
    /// conv -> BatchNorm (-> ReLU). A frozen BatchNorm is a fixed per-channel affine map, so it is folded into the
    /// convolution's weight and bias: no pass of its own over the activations, forward or backward (the same
    /// function up to rounding), as MobileNetV1 does.
    /// </summary>
    private static Tensor ConvBn(Conv2d conv, FreezableBatchNorm2d bn, Tensor x, bool relu)
    {
        Tensor y;
        if (bn.Frozen)
        {
            var (scale, shift) = bn.FrozenAffine();
            using (scale)
            using (shift)
            using (var folded = conv.weight! * scale.reshape(-1, 1, 1, 1))
            {
                y = nn.functional.conv2d(x, folded, shift, conv.stride, conv.padding, conv.dilation, conv.groups);
            }
        }
        else
        {
            y = bn.forward(conv.forward(x));
        }

        // In place, as torchvision's ReLU(inplace=True): nothing needs the pre-activation (the convolution's
        // backward needs its input and weight, BatchNorm's its input).
        return relu ? y.relu_() : y;
    }

    private static Tensor Shortcut(Sequential? downsample, Tensor input) =>
        downsample is null ? input : ConvBn((Conv2d)downsample[0], (FreezableBatchNorm2d)downsample[1], input, relu: false);

    /// <summary>The shortcut in an ONNX graph: the input, or the 1x1 projection with its BatchNorm folded in.</summary>
    private static string ExportShortcut(OnnxGraph graph, Sequential? downsample, string input, string name) =>
        downsample is null ? input : graph.Conv(input, $"{name}.downsample.0", (Conv2d)downsample[0], (FreezableBatchNorm2d)downsample[1]);

    /// <summary>torchvision's BasicBlock: 3x3 (stride, dilation), 3x3 (dilation), each with BN; ReLU after the sum.</summary>
    private sealed class BasicBlock : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly Conv2d conv1;
        private readonly FreezableBatchNorm2d bn1;
        private readonly Conv2d conv2;
        private readonly FreezableBatchNorm2d bn2;
        private readonly Sequential? downsample;

        public BasicBlock(long inChannels, long planes, long stride, long dilation)
            : base(nameof(BasicBlock))
        {
            conv1 = nn.Conv2d(inChannels, planes, 3, stride, padding: dilation, dilation: dilation, bias: false);
            bn1 = new FreezableBatchNorm2d(planes);
            conv2 = nn.Conv2d(planes, planes, 3, 1, padding: dilation, dilation: dilation, bias: false);
            bn2 = new FreezableBatchNorm2d(planes);
            downsample = Downsample(inChannels, planes, stride);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var r1 = ConvBn(conv1, bn1, input, relu: true);
            var b2 = ConvBn(conv2, bn2, r1, relu: false);
            return b2.Plus(Shortcut(downsample, input)).relu_();
        }

        public string ExportOnnx(OnnxGraph graph, string input, string name)
        {
            string r1 = graph.Relu(graph.Conv(input, $"{name}.conv1", conv1, bn1));
            string b2 = graph.Conv(r1, $"{name}.conv2", conv2, bn2);
            return graph.Relu(graph.Add(b2, ExportShortcut(graph, downsample, input, name), $"{name}.add"));
        }
    }

    /// <summary>torchvision's Bottleneck: 1x1, 3x3 (stride, dilation), 1x1 x4, each with BN; ReLU after the sum.</summary>
    private sealed class Bottleneck : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        public const long Expansion = 4;

        private readonly Conv2d conv1;
        private readonly FreezableBatchNorm2d bn1;
        private readonly Conv2d conv2;
        private readonly FreezableBatchNorm2d bn2;
        private readonly Conv2d conv3;
        private readonly FreezableBatchNorm2d bn3;
        private readonly Sequential? downsample;

        public Bottleneck(long inChannels, long planes, long stride, long dilation)
            : base(nameof(Bottleneck))
        {
            conv1 = nn.Conv2d(inChannels, planes, 1, bias: false);
            bn1 = new FreezableBatchNorm2d(planes);
            conv2 = nn.Conv2d(planes, planes, 3, stride, padding: dilation, dilation: dilation, bias: false);
            bn2 = new FreezableBatchNorm2d(planes);
            conv3 = nn.Conv2d(planes, planes * Expansion, 1, bias: false);
            bn3 = new FreezableBatchNorm2d(planes * Expansion);
            downsample = Downsample(inChannels, planes * Expansion, stride);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var r1 = ConvBn(conv1, bn1, input, relu: true);
            var r2 = ConvBn(conv2, bn2, r1, relu: true);
            var b3 = ConvBn(conv3, bn3, r2, relu: false);
            return b3.Plus(Shortcut(downsample, input)).relu_();
        }

        public string ExportOnnx(OnnxGraph graph, string input, string name)
        {
            string r1 = graph.Relu(graph.Conv(input, $"{name}.conv1", conv1, bn1));
            string r2 = graph.Relu(graph.Conv(r1, $"{name}.conv2", conv2, bn2));
            string b3 = graph.Conv(r2, $"{name}.conv3", conv3, bn3);
            return graph.Relu(graph.Add(b3, ExportShortcut(graph, downsample, input, name), $"{name}.add"));
        }
    }
}

/// <summary>
/// ResNet-18 in torchvision's layout (basic blocks 2-2-2-2, 512 output channels, 11.2 M parameters without the
/// classifier), at output stride 8 by default (layer3 and layer4 dilated 2 and 4; see <see cref="ResNet"/>).
/// ImageNet weights: ML.NET's ResNet-18 ONNX file (<see cref="OnnxWeights.LoadResNet18"/>, whose input is
/// 0-255 RGB minus the ImageNet mean pixel) or a torchvision checkpoint (<see cref="TorchvisionWeights"/>, ImageNet
/// mean / std).
/// </summary>
public sealed class ResNet18 : ResNet
{
    /// <summary>Creates the network with random weights.</summary>
    /// <param name="frozenBatchNorm">Freeze every BatchNorm (default true, as RRM).</param>
    /// <param name="outputStride">8 (default), 16, or 32 (the original network).</param>
    /// <param name="normalization">Input normalisation the weights expect; null (default): ImageNet mean / std.</param>
    /// <param name="blocks">Basic blocks per stage; null (default): torchvision's 2, 2, 2, 2. ML.NET's ONNX file has
    /// <see cref="MLNetBlocks"/>.</param>
    /// <exception cref="ArgumentException">Not four positive block counts, or an output stride other than 8, 16, 32.</exception>
    public ResNet18(bool frozenBatchNorm = true, int outputStride = 8, InputNormalization? normalization = null, IReadOnlyList<int>? blocks = null)
        : base(nameof(ResNet18), bottleneck: false, blocks ?? TorchvisionBlocks, outputStride, frozenBatchNorm, normalization)
    {
    }

    /// <summary>torchvision's ResNet-18: 2, 2, 2, 2 basic blocks.</summary>
    public static IReadOnlyList<int> TorchvisionBlocks { get; } = [2, 2, 2, 2];

    /// <summary>
    /// ML.NET's "ResNet18" ONNX file (a CNTK export): 2, 2, 2, 3 basic blocks, one more in layer4 than torchvision's
    /// (15.9 M parameters instead of 11.2 M); its extra block is "layer4.2".
    /// </summary>
    public static IReadOnlyList<int> MLNetBlocks { get; } = [2, 2, 2, 3];

    /// <inheritdoc/>
    public override BackboneKind Kind => BackboneKind.ResNet18;
}

/// <summary>
/// ResNet-50 in torchvision's layout (bottlenecks 3-4-6-3, 2048 output channels), at output stride 8 by default
/// (torchvision's replace_stride_with_dilation = [False, True, True]). Input: ImageNet mean / std.
/// </summary>
public sealed class ResNet50 : ResNet
{
    /// <summary>Creates the network with random weights.</summary>
    /// <param name="frozenBatchNorm">Freeze every BatchNorm (default true, as RRM).</param>
    /// <param name="outputStride">8 (default), 16, or 32 (the original network).</param>
    public ResNet50(bool frozenBatchNorm = true, int outputStride = 8)
        : base(nameof(ResNet50), bottleneck: true, [3, 4, 6, 3], outputStride, frozenBatchNorm, null)
    {
    }

    /// <inheritdoc/>
    public override BackboneKind Kind => BackboneKind.ResNet50;
}

/// <summary>
/// ResNet-101 in torchvision's layout (bottlenecks 3-4-23-3, 2048 output channels), at output stride 8 by default.
/// Input: ImageNet mean / std.
/// </summary>
public sealed class ResNet101 : ResNet
{
    /// <summary>Creates the network with random weights.</summary>
    /// <param name="frozenBatchNorm">Freeze every BatchNorm (default true, as RRM).</param>
    /// <param name="outputStride">8 (default), 16, or 32 (the original network).</param>
    public ResNet101(bool frozenBatchNorm = true, int outputStride = 8)
        : base(nameof(ResNet101), bottleneck: true, [3, 4, 23, 3], outputStride, frozenBatchNorm, null)
    {
    }

    /// <inheritdoc/>
    public override BackboneKind Kind => BackboneKind.ResNet101;
}
