using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using TorchSharp.Modules;
using Wsss.Engine;
using Wsss.Model;
using Wsss.Model.Layers;
using static TorchSharp.torch;

namespace Wsss.Onnx;

/// <summary>
/// Builds an ONNX graph (OnnxSharp's generated <see cref="GraphProto"/>) from the modules' own parameters: every method
/// adds the nodes of one operation and returns the name of its output value. Names are made unique here (ONNX values are
/// assigned once); initialisers take the module's state-dict name, so a viewer such as Netron shows where each came from.
/// The modules' inference semantics are what is exported: dropout is left out and BatchNorm uses its running statistics,
/// whatever mode the module is in.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly HashSet<string> names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> int64Constants = new(StringComparer.Ordinal);

    public OnnxGraph(int opset)
    {
        Opset = opset;
    }

    /// <summary>The opset the nodes are written for.</summary>
    public int Opset { get; }

    /// <summary>The graph being built.</summary>
    public GraphProto Proto { get; } = new() { Name = "wsss" };

    /// <summary>A value name not used before, derived from <paramref name="hint"/>.</summary>
    public string Unique(string hint)
    {
        string name = hint;
        for (int k = 1; !names.Add(name); k++)
        {
            name = $"{hint}_{k}";
        }

        return name;
    }

    /// <summary>Adds a float initialiser holding <paramref name="tensor"/>'s values (copied to the CPU, row-major).</summary>
    public string Initializer(string name, Tensor tensor)
    {
        using var cpu = tensor.detach().cpu().to(ScalarType.Float32).contiguous();
        return Initializer(name, cpu.ToArrayFast<float>(), cpu.shape);
    }

    /// <summary>Adds a float initialiser.</summary>
    public string Initializer(string name, float[] values, long[] dims)
    {
        var t = new TensorProto { Name = Unique(name), DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        // raw_data is little-endian by the ONNX spec; .NET on every platform ONNX Runtime serves is little-endian.
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        Proto.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>A 1-D int64 constant (shared between the nodes that use the same values).</summary>
    public string Int64s(params long[] values)
    {
        string key = string.Join(",", values);
        if (int64Constants.TryGetValue(key, out string? existing))
        {
            return existing;
        }

        var t = new TensorProto { Name = Unique("const_i64_" + key.Replace(",", "_", StringComparison.Ordinal).Replace("-", "m", StringComparison.Ordinal)), DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        Proto.Initializer.Add(t);
        int64Constants[key] = t.Name;
        return t.Name;
    }

    /// <summary>A scalar float constant.</summary>
    public string Scalar(string name, float value) => Initializer(name, [value], []);

    /// <summary>Adds a node; returns its (first) output's name.</summary>
    public string Node(string op, IReadOnlyList<string> inputs, string output, params AttributeProto[] attributes)
    {
        string name = Unique(output);
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        node.Attribute.AddRange(attributes);
        Proto.Node.Add(node);
        return name;
    }

    public static AttributeProto Attribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attribute(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attribute(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Attribute(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>
    /// A 2-D convolution. <paramref name="pads"/> is (top, left, bottom, right), ONNX's order. The weight and bias are
    /// written as initialisers named <paramref name="name"/>.weight / .bias.
    /// </summary>
    public string Conv(string x, string name, Tensor weight, Tensor? bias, long stride, long[] pads, long dilation, long groups)
    {
        var inputs = new List<string> { x, Initializer(name + ".weight", weight) };
        if (bias is not null)
        {
            inputs.Add(Initializer(name + ".bias", bias));
        }

        return Node("Conv", inputs, name,
            Attribute("kernel_shape", [weight.shape[2], weight.shape[3]]),
            Attribute("strides", [stride, stride]),
            Attribute("dilations", [dilation, dilation]),
            Attribute("pads", pads),
            Attribute("group", groups));
    }

    /// <summary>
    /// A TorchSharp <see cref="Conv2d"/> (zero padding, square stride and dilation), optionally followed by a BatchNorm in
    /// inference mode, which is folded into the weights as <see cref="FreezableBatchNorm2d.InferenceAffine"/> describes.
    /// </summary>
    public string Conv(string x, string name, Conv2d conv, FreezableBatchNorm2d? bn = null)
    {
        if (conv.padding_mode != TorchSharp.PaddingModes.Zeros || conv.padding is not { Length: 2 } p || conv.stride[0] != conv.stride[1] || conv.dilation[0] != conv.dilation[1])
        {
            throw new NotSupportedException($"ONNX export of {name}: only explicit zero padding with square strides and dilations is exported.");
        }

        using var scope = NewDisposeScope();
        var (weight, bias) = Fold(conv.weight!, conv.bias, bn);
        return Conv(x, name, weight, bias, conv.stride[0], [p[0], p[1], p[0], p[1]], conv.dilation[0], conv.groups);
    }

    /// <summary>
    /// A convolution whose output channels are followed by a BatchNorm in inference mode, as one convolution:
    /// weight x scale (per output channel) and bias x scale + shift. The same tensor operations as
    /// <see cref="MobileNetV1"/>'s forward, so a network that folds at run time exports the very same weights.
    /// </summary>
    public static (Tensor Weight, Tensor? Bias) Fold(Tensor weight, Tensor? bias, FreezableBatchNorm2d? bn)
    {
        if (bn is null)
        {
            return (weight, bias);
        }

        var (scale, shift) = bn.InferenceAffine();
        var folded = weight * scale.reshape(-1, 1, 1, 1);
        return (folded, bias is null ? shift : (bias * scale).Plus(shift));
    }

    /// <summary>A standalone BatchNorm in inference mode (running statistics), where it cannot be folded (pre-activation).</summary>
    public string BatchNorm(string x, string name, FreezableBatchNorm2d bn) =>
        Node("BatchNormalization",
            [x, Initializer(name + ".weight", bn.Weight), Initializer(name + ".bias", bn.Bias), Initializer(name + ".running_mean", bn.RunningMean), Initializer(name + ".running_var", bn.RunningVar)],
            name, Attribute("epsilon", (float)bn.Eps));

    public string Relu(string x) => Node("Relu", [x], x + "_relu");

    /// <summary>min(max(x, low), high), as ReLU6.</summary>
    public string Clip(string x, float low, float high) =>
        Node("Clip", [x, Scalar("clip_min", low), Scalar("clip_max", high)], x + "_clip");

    public string Add(string a, string b, string output) => Node("Add", [a, b], output);

    public string Mul(string a, string b, string output) => Node("Mul", [a, b], output);

    public string Div(string a, string b, string output) => Node("Div", [a, b], output);

    /// <summary>
    /// Softmax over axis 1 of (N, C, H, W) as exp(x - max) / sum, the formula libtorch uses. Written out because ONNX
    /// Runtime's Softmax node over a non-last axis transposes the tensor to the last axis and back: at 500x375 with 21
    /// classes that cost 290 ms, more than the whole network (bench inference); its reductions over axis 1 do not.
    /// </summary>
    public string SoftmaxOverChannels(string x, string output)
    {
        string max = Opset >= 18
            ? Node("ReduceMax", [x, Int64s(1)], x + "_max", Attribute("keepdims", 1L))
            : Node("ReduceMax", [x], x + "_max", Attribute("axes", [1L]), Attribute("keepdims", 1L));
        string exp = Node("Exp", [Node("Sub", [x, max], x + "_shifted")], x + "_exp");
        string sum = Node("ReduceSum", [exp, Int64s(1)], x + "_sum", Attribute("keepdims", 1L));
        return Div(exp, sum, output);
    }

    /// <summary>Dimensions [start, end) of x's shape, as a 1-D int64 tensor.</summary>
    public string Shape(string x, long start, long end) =>
        Node("Shape", [x], x + "_shape", Attribute("start", start), Attribute("end", end));

    public string Concat(IReadOnlyList<string> inputs, string output) => Node("Concat", inputs, output, Attribute("axis", 0L));

    /// <summary>
    /// TensorFlow's 'same' padding of a spatial input whose size is known only at run time: for each of H and W,
    /// total = max((ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0), split as total / 2 before
    /// and the rest after (the extra row or column goes to the bottom or right), then a zero Pad. The same formula as
    /// <c>TfSameConv2d.SamePadding</c>, in int64 graph arithmetic.
    /// </summary>
    public string TfSamePad(string x, long kernel, long stride, long dilation)
    {
        string size = Shape(x, 2, 4);
        string outSize = Node("Div", [Node("Add", [size, Int64s(stride - 1, stride - 1)], x + "_same_a"), Int64s(stride, stride)], x + "_same_out");
        string span = Node("Add", [Node("Mul", [Node("Sub", [outSize, Int64s(1, 1)], x + "_same_b"), Int64s(stride, stride)], x + "_same_c"),
            Int64s(((kernel - 1) * dilation) + 1, ((kernel - 1) * dilation) + 1)], x + "_same_d");
        string total = Node("Max", [Node("Sub", [span, size], x + "_same_e"), Int64s(0, 0)], x + "_same_total");
        string before = Node("Div", [total, Int64s(2, 2)], x + "_same_before");
        string after = Node("Sub", [total, before], x + "_same_after");
        string pads = Concat([Int64s(0, 0), before, Int64s(0, 0), after], x + "_same_pads");
        return Node("Pad", [x, pads], x + "_same_pad", Attribute("mode", "constant"));
    }

    /// <summary>
    /// Bilinear resize of <paramref name="x"/> (N, C, h, w) to the spatial size of <paramref name="like"/>: PyTorch's
    /// interpolate(mode bilinear, align_corners false), which ONNX calls coordinate_transformation_mode pytorch_half_pixel.
    /// </summary>
    public string ResizeBilinearLike(string x, string like, string output)
    {
        string sizes = Concat([Shape(x, 0, 2), Shape(like, 2, 4)], output + "_sizes");
        return Node("Resize", [x, string.Empty, string.Empty, sizes], output,
            Attribute("mode", "linear"),
            Attribute("coordinate_transformation_mode", "pytorch_half_pixel"));
    }

    /// <summary>Declares a float graph input or output with the given dimensions (a string is a named dynamic dimension).</summary>
    public static ValueInfoProto FloatValue(string name, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (object d in dims)
        {
            shape.Dim.Add(d switch
            {
                string param => new TensorShapeProto.Types.Dimension { DimParam = param },
                int v => new TensorShapeProto.Types.Dimension { DimValue = v },
                long v => new TensorShapeProto.Types.Dimension { DimValue = v },
                _ => throw new ArgumentException($"dimension {d} is neither a name nor a number"),
            });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
