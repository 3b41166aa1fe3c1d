using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using Wsss.Model.Serialization;

namespace Wsss.Model;

/// <summary>
/// Imports ImageNet weights from ONNX files: the initializers are read with OnnxSharp (ONNX's own model types
/// compiled for Google.Protobuf) and mapped onto this library's torchvision-layout networks by walking the graph.
/// The supported file is ML.NET's ResNet-18 featurizer (package Microsoft.ML.DnnImageFeaturizer.ResNet18,
/// tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx): a CNTK 2.6 export of an ImageNet ResNet-18, truncated at the
/// global average pooling (no classifier), whose node and initializer names are CNTK's ("Convolution249",
/// "Parameter91") and carry no meaning, so the mapping follows the graph's structure instead of its names.
/// </summary>
public static class OnnxWeights
{
    /// <summary>The NuGet package that ships the ResNet-18 ONNX file.</summary>
    public const string ResNet18PackageId = "Microsoft.ML.DnnImageFeaturizer.ResNet18";

    /// <summary>The package version this import was written and tested against.</summary>
    public const string ResNet18PackageVersion = "0.23.1";

    /// <summary>Where the package puts the file, relative to its tools folder and to an application's output folder.</summary>
    public static readonly string ResNet18RelativePath = Path.Combine("DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    /// <summary>
    /// The input the ResNet-18 ONNX weights expect, for RGB input: 0-255 values minus the ImageNet mean pixel
    /// (R 123.15, G 115.90, B 103.06), no scaling. The package's preprocessing model (ResNetPrepOnnx/ResNetPreprocess.onnx:
    /// Split -> Concat(B, G, R) -> Sub(MeanImage)) reorders RGB to BGR and subtracts a 224 x 224 mean image; the
    /// reordering is folded into the first convolution by the import, and the mean image, which only exists at
    /// 224 x 224 while RRM runs on crops of any size, is replaced by its per-channel means (Caffe's "mean value"
    /// alternative to its "mean file"; the image deviates from them by at most 12.7 levels).
    /// </summary>
    public static InputNormalization ResNet18Normalization { get; } =
        new(1.0, [123.1516307762691, 115.90288236463556, 103.06262401521815], [1.0, 1.0, 1.0]);

    /// <summary>
    /// Finds ML.NET's ResNet-18 ONNX file without a path: first in the application's output folder (where the
    /// package's build props copy it, as DnnImageModels/ResNet18Onnx/ResNet18.onnx, when the application references
    /// the package), then in the NuGet global packages folder (NUGET_PACKAGES, else ~/.nuget/packages), version
    /// <see cref="ResNet18PackageVersion"/> first, else the highest version present.
    /// </summary>
    /// <returns>The file's full path, or null when neither place has it.</returns>
    public static string? FindResNet18() => ResNet18Candidates(AppContext.BaseDirectory, NuGetPackagesFolder()).FirstOrDefault(File.Exists) is { } found
        ? Path.GetFullPath(found)
        : null;

    /// <summary>The NuGet global packages folder: NUGET_PACKAGES, else ~/.nuget/packages (null without a home folder).</summary>
    internal static string? NuGetPackagesFolder()
    {
        string? packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (!string.IsNullOrEmpty(packages))
        {
            return packages;
        }

        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".nuget", "packages");
    }

    /// <summary>The places <see cref="FindResNet18"/> looks, in order.</summary>
    /// <param name="appFolder">The application's output folder.</param>
    /// <param name="packagesFolder">The NuGet global packages folder, or null.</param>
    internal static IEnumerable<string> ResNet18Candidates(string appFolder, string? packagesFolder)
    {
        yield return Path.Combine(appFolder, ResNet18RelativePath);
        if (packagesFolder is null)
        {
            yield break;
        }

        // NuGet's folders are the lower-case id and the normalised version.
        string root = Path.Combine(packagesFolder, ResNet18PackageId.ToLowerInvariant());
        yield return Path.Combine(root, ResNet18PackageVersion, "tools", ResNet18RelativePath);
        if (Directory.Exists(root))
        {
            foreach (string version in Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>()
                         .Where(v => v != ResNet18PackageVersion)
                         .OrderByDescending(v => System.Version.TryParse(v.Split('-')[0], out var parsed) ? parsed : new System.Version(0, 0)))
            {
                yield return Path.Combine(root, version, "tools", ResNet18RelativePath);
            }
        }
    }

    /// <summary>
    /// Builds a <see cref="ResNet18"/> with the ImageNet weights of ML.NET's ResNet-18 ONNX file, taking RGB input
    /// normalised by <see cref="ResNet18Normalization"/> (the file's own BGR order is folded into conv1).
    /// </summary>
    /// <param name="path">The ONNX file; null finds it (<see cref="FindResNet18"/>).</param>
    /// <param name="outputStride">8 (default, for segmentation), 16, or 32 (the file's own network).</param>
    /// <param name="frozenBatchNorm">Freeze BatchNorm (default true).</param>
    /// <exception cref="FileNotFoundException">No path was given and the file was not found (the message says where it looked).</exception>
    /// <exception cref="FileFormatException">The file is not a readable ONNX model.</exception>
    /// <exception cref="InvalidDataException">The file is not this ResNet-18: the message names the file and the first
    /// node or tensor that differs (missing, mis-shaped, another operator).</exception>
    public static ResNet18 LoadResNet18(string? path = null, int outputStride = 8, bool frozenBatchNorm = true)
    {
        path ??= FindResNet18() ?? throw new FileNotFoundException(
            $"ML.NET's ResNet-18 ONNX file was not found; reference the NuGet package {ResNet18PackageId} {ResNet18PackageVersion} " +
            $"(its build step copies it to the output folder) or name the file. Looked in: {string.Join(", ", ResNet18Candidates(AppContext.BaseDirectory, NuGetPackagesFolder()))}.");
        var model = Read(path);
        var (weights, blocks) = ResNet18Weights(model, path);
        var network = new ResNet18(frozenBatchNorm, outputStride, ResNet18Normalization, blocks);
        try
        {
            Load(network, weights, path);
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Parses an ONNX file with OnnxSharp's model types.</summary>
    /// <exception cref="FileFormatException">The file is missing, unreadable or not an ONNX model.</exception>
    public static ModelProto Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            using var stream = File.OpenRead(path);
            var model = ModelProto.Parser.ParseFrom(stream);
            if (model.Graph is null)
            {
                throw new FileFormatException(path, null, "the ONNX model has no graph.");
            }

            return model;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FileFormatException(path, null, $"not an ONNX model ({e.Message}).", e);
        }
        catch (FileNotFoundException e)
        {
            throw new FileFormatException(path, null, "the file does not exist.", e);
        }
    }

    /// <summary>The float initializers of an ONNX graph by name (float_data or little-endian raw_data).</summary>
    /// <exception cref="InvalidDataException">An initializer is not float32 or its value count does not match its dims.</exception>
    public static Dictionary<string, (float[] Data, long[] Shape)> Initializers(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var result = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal);
        foreach (var t in model.Graph.Initializer)
        {
            result[t.Name] = Values(t);
        }

        return result;
    }

    private static (float[] Data, long[] Shape) Values(TensorProto t)
    {
        long[] shape = t.Dims.ToArray();
        long count = shape.Aggregate(1L, (a, d) => a * d);
        if (t.DataType != (int)TensorProto.Types.DataType.Float)
        {
            throw new InvalidDataException($"initializer '{t.Name}' has ONNX data type {t.DataType}, expected float32 (1).");
        }

        float[] data;
        if (t.RawData.Length > 0)
        {
            if (t.RawData.Length != count * sizeof(float))
            {
                throw new InvalidDataException($"initializer '{t.Name}' has {t.RawData.Length} raw bytes for shape {Shape(shape)}.");
            }

            data = new float[count];
            // ONNX stores raw_data little-endian, as this (x86/ARM) process.
            MemoryMarshal.Cast<byte, float>(t.RawData.Span).CopyTo(data);
        }
        else
        {
            if (t.FloatData.Count != count)
            {
                throw new InvalidDataException($"initializer '{t.Name}' has {t.FloatData.Count} values for shape {Shape(shape)}.");
            }

            data = t.FloatData.ToArray();
        }

        return (data, shape);
    }

    /// <summary>
    /// The weights of the CNTK ResNet-18 graph under torchvision's names and its blocks per stage, found by walking
    /// the graph from its input: conv1 -> BatchNorm -> ReLU -> MaxPool, then basic blocks (3x3 conv -> BN -> ReLU ->
    /// 3x3 conv -> BN, added to the block input or to its 1x1 projection -> BN, then ReLU) until the global pooling; a
    /// block whose first convolution has stride 2 starts the next stage. conv1's input channels are reversed (the file
    /// expects BGR). Each tensor is checked against the shape the network expects.
    /// </summary>
    /// <remarks>
    /// ML.NET's file has 2, 2, 2 and 3 blocks (9 basic blocks, 15.9 M parameters), one block more in layer4 than
    /// torchvision's ResNet-18 (2, 2, 2, 2; 11.2 M without the classifier); the extra block is layer4.2 under
    /// torchvision's naming rule.
    /// </remarks>
    /// <exception cref="InvalidDataException">The graph is not that network; the message names the file and the first
    /// node or tensor that differs.</exception>
    internal static (Dictionary<string, (float[] Data, long[] Shape)> Weights, int[] Blocks) ResNet18Weights(ModelProto model, string path)
    {
        try
        {
            var walker = new GraphWalker(model.Graph);
            var weights = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal);
            string x = walker.Input();
            x = walker.ConvBn(x, "conv1", "bn1", kernel: 7, stride: 2, weights);
            x = walker.Single(x, "Relu");
            x = walker.Single(x, "MaxPool");
            var blocks = new List<int> { 0 };
            while (!walker.IsEnd(x))
            {
                string mainConv = walker.Consumer(x, n => n.OpType == "Conv" && GraphWalker.Kernel(n) == 3, "3x3 Conv (the next block's conv1, or the global AveragePool)");
                long stride = walker.Stride(mainConv);
                if (stride == 2)
                {
                    blocks.Add(0);
                }

                string p = $"layer{blocks.Count}.{blocks[^1]}";
                if (blocks.Count > 4 || stride is not (1 or 2) || (stride == 2) != (blocks[^1] == 0 && blocks.Count > 1))
                {
                    throw new InvalidDataException($"node '{walker.Node(mainConv).Name}' ({p}.conv1) has stride {stride}; ResNet-18 has 4 stages, each but the first starting with stride 2.");
                }

                string r1 = walker.Single(walker.ConvBnAt(mainConv, $"{p}.conv1", $"{p}.bn1", 3, stride, weights), "Relu");
                string b2 = walker.ConvBn(r1, $"{p}.conv2", $"{p}.bn2", 3, 1, weights);
                var add = walker.Node(walker.Consumer(b2, n => n.OpType == "Add", $"{p} residual Add"));
                string shortcut = add.Input[0] == b2 ? add.Input[1] : add.Input[0];
                if (stride == 2)
                {
                    // A projection: 1x1 stride-2 convolution of the block input, then BatchNorm.
                    string projection = walker.Consumer(x, n => n.OpType == "Conv" && GraphWalker.Kernel(n) == 1, $"{p}.downsample.0 (1x1 Conv)");
                    string projected = walker.ConvBnAt(projection, $"{p}.downsample.0", $"{p}.downsample.1", 1, stride, weights);
                    if (projected != shortcut)
                    {
                        throw new InvalidDataException($"node '{add.Name}' ({p} residual Add) adds '{shortcut}', not the block input's projection.");
                    }
                }
                else if (shortcut != x)
                {
                    throw new InvalidDataException($"node '{add.Name}' ({p} residual Add) adds '{shortcut}', not the block input '{x}'.");
                }

                blocks[^1]++;
                x = walker.Single(add.Output[0], "Relu");
            }

            if (blocks.Count != 4)
            {
                throw new InvalidDataException($"the graph has {blocks.Count} stages ({string.Join("-", blocks)} blocks); ResNet-18 has 4.");
            }

            // conv1 of the file sees B, G, R; reversing its input channels makes it take R, G, B.
            var (data, shape) = weights["conv1.weight"];
            weights["conv1.weight"] = (ReverseInputChannels(data, shape), shape);
            using var expected = new ResNet18(outputStride: 32, blocks: blocks);
            foreach (var (name, target) in expected.state_dict())
            {
                if (name.EndsWith("num_batches_tracked", StringComparison.Ordinal))
                {
                    continue;
                }

                if (!weights.TryGetValue(name, out var source))
                {
                    throw new InvalidDataException($"the graph has no tensor for '{name}' (shape {Shape(target.shape)}).");
                }

                if (!source.Shape.AsSpan().SequenceEqual(target.shape))
                {
                    throw new InvalidDataException($"initializer '{walker.SourceOf(name)}' ({name}) has shape {Shape(source.Shape)}, but ResNet-18 needs {Shape(target.shape)}.");
                }
            }

            return (weights, blocks.ToArray());
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: not ML.NET's ResNet-18: {e.Message}", e);
        }
    }

    private static void Load(Backbone network, Dictionary<string, (float[] Data, long[] Shape)> weights, string path)
    {
        try
        {
            network.LoadWeights(weights);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    private static float[] ReverseInputChannels(float[] data, long[] shape)
    {
        long outChannels = shape[0], inChannels = shape[1], plane = shape[2] * shape[3];
        var result = new float[data.Length];
        for (long o = 0; o < outChannels; o++)
        {
            for (long i = 0; i < inChannels; i++)
            {
                Array.Copy(data, ((o * inChannels) + i) * plane, result, ((o * inChannels) + (inChannels - 1 - i)) * plane, plane);
            }
        }

        return result;
    }

    private static string Shape(ReadOnlySpan<long> shape) => $"({string.Join(", ", shape.ToArray())})";

    /// <summary>Follows tensors through the nodes of a graph, checking operators and attributes on the way.</summary>
    private sealed class GraphWalker
    {
        private readonly GraphProto graph;
        private readonly Dictionary<string, TensorProto> initializers;
        private readonly Dictionary<string, List<NodeProto>> consumers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, NodeProto> producers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> sources = new(StringComparer.Ordinal);

        public GraphWalker(GraphProto graph)
        {
            this.graph = graph;
            initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
            foreach (var node in graph.Node)
            {
                foreach (string input in node.Input)
                {
                    if (!consumers.TryGetValue(input, out var list))
                    {
                        consumers[input] = list = [];
                    }

                    list.Add(node);
                }

                foreach (string output in node.Output)
                {
                    producers[output] = node;
                }
            }
        }

        /// <summary>The ONNX initializer a torchvision-named tensor came from.</summary>
        public string SourceOf(string name) => sources.GetValueOrDefault(name, "?");

        /// <summary>The one graph input that is not an initializer (IR 3 lists initializers as inputs too).</summary>
        public string Input()
        {
            var inputs = graph.Input.Where(i => !initializers.ContainsKey(i.Name)).ToList();
            return inputs.Count == 1
                ? inputs[0].Name
                : throw new InvalidDataException($"the graph has {inputs.Count} image inputs, expected 1.");
        }

        public NodeProto Node(string output) => producers[output];

        /// <summary>Whether <paramref name="tensor"/> is the graph's output or feeds only the global AveragePool that is.</summary>
        public bool IsEnd(string tensor)
        {
            var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            if (outputs.Contains(tensor))
            {
                return true;
            }

            var readers = consumers.GetValueOrDefault(tensor) ?? [];
            return readers.Count == 1 && readers[0].OpType is "AveragePool" or "GlobalAveragePool" && outputs.Contains(readers[0].Output[0]);
        }

        /// <summary>The (square) stride of the Conv producing <paramref name="convOutput"/>.</summary>
        public long Stride(string convOutput)
        {
            var strides = Ints(producers[convOutput], "strides");
            return strides.Count == 0 ? 1 : strides.All(v => v == strides[0]) ? strides[0] : -1;
        }

        /// <summary>The output of the only node that reads <paramref name="tensor"/>, which must be a <paramref name="opType"/>.</summary>
        public string Single(string tensor, string opType)
        {
            var readers = consumers.GetValueOrDefault(tensor) ?? [];
            if (readers.Count != 1 || readers[0].OpType != opType)
            {
                throw new InvalidDataException($"'{tensor}' should feed one {opType}, but feeds [{string.Join(", ", readers.Select(n => $"{n.OpType} '{n.Name}'"))}].");
            }

            return readers[0].Output[0];
        }

        /// <summary>The output of the node reading <paramref name="tensor"/> that satisfies <paramref name="match"/>.</summary>
        public string Consumer(string tensor, Func<NodeProto, bool> match, string what)
        {
            var node = (consumers.GetValueOrDefault(tensor) ?? []).FirstOrDefault(match)
                ?? throw new InvalidDataException($"no {what} reads '{tensor}'.");
            return node.Output[0];
        }

        /// <summary>Conv (reading <paramref name="input"/>) -> BatchNormalization; returns the BatchNorm's output.</summary>
        public string ConvBn(string input, string conv, string bn, long kernel, long stride, Dictionary<string, (float[] Data, long[] Shape)> weights) =>
            ConvBnAt(Consumer(input, n => n.OpType == "Conv", $"{conv} (Conv)"), conv, bn, kernel, stride, weights);

        /// <summary>The Conv producing <paramref name="convOutput"/> -> BatchNormalization; returns the BatchNorm's output.</summary>
        public string ConvBnAt(string convOutput, string conv, string bn, long kernel, long stride, Dictionary<string, (float[] Data, long[] Shape)> weights)
        {
            var node = producers[convOutput];
            string where = $"node '{node.Name}' ({conv})";
            if (Kernel(node) != kernel || Ints(node, "strides").Any(s => s != stride) || Ints(node, "dilations").Any(d => d != 1)
                || Int(node, "group", 1) != 1 || node.Input.Count != 2)
            {
                throw new InvalidDataException(
                    $"{where} is a {Kernel(node)}x{Kernel(node)} stride-[{string.Join(",", Ints(node, "strides"))}] convolution with {node.Input.Count - 1} parameter tensors; " +
                    $"ResNet-18 has a {kernel}x{kernel} stride-{stride} convolution without bias there.");
            }

            Take(node.Input[1], $"{conv}.weight", weights);
            var norm = producers[Single(convOutput, "BatchNormalization")];
            float eps = norm.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
            if (Math.Abs(eps - 1e-5f) > 1e-9f || norm.Input.Count != 5)
            {
                throw new InvalidDataException($"node '{norm.Name}' ({bn}) has epsilon {eps} and {norm.Input.Count} inputs; expected 1e-05 and 5.");
            }

            Take(norm.Input[1], $"{bn}.weight", weights);
            Take(norm.Input[2], $"{bn}.bias", weights);
            Take(norm.Input[3], $"{bn}.running_mean", weights);
            Take(norm.Input[4], $"{bn}.running_var", weights);
            return norm.Output[0];
        }

        private void Take(string initializer, string name, Dictionary<string, (float[] Data, long[] Shape)> weights)
        {
            if (!initializers.TryGetValue(initializer, out var tensor))
            {
                throw new InvalidDataException($"initializer '{initializer}' ({name}) is missing.");
            }

            sources[name] = initializer;
            weights[name] = Values(tensor);
        }

        public static long Kernel(NodeProto node)
        {
            var k = Ints(node, "kernel_shape");
            return k.Count == 2 && k[0] == k[1] ? k[0] : -1;
        }

        private static IReadOnlyList<long> Ints(NodeProto node, string name) =>
            node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray() ?? [];

        private static long Int(NodeProto node, string name, long fallback) =>
            node.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? fallback;
    }
}
