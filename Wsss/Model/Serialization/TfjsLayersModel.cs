using System.Buffers.Binary;
using System.Text.Json;

namespace Wsss.Model.Serialization;

/// <summary>
/// A TensorFlow.js layers-format model (a Keras model exported for the browser): the Keras layer list
/// from <c>model.json</c>'s "modelTopology" and the weights listed in its "weightsManifest", read from
/// the binary shard files beside it. Weights keep TensorFlow's channels-last layout: Conv2D kernels
/// are [kh, kw, in, out], DepthwiseConv2D kernels [kh, kw, in, multiplier].
/// </summary>
/// <remarks>
/// Within a manifest group the shard files are concatenated in the listed order and the group's weights
/// follow one another in that byte stream, as little-endian values. Supported weight dtypes: float32,
/// int32 and bool; quantised float32 weights (uint8 / uint16 affine, float16) are dequantised to float32.
/// </remarks>
public sealed class TfjsLayersModel
{
    private const int MaxShardPathLength = 4096;

    private static readonly JsonElement EmptyConfig = CreateEmptyObject();

    private readonly Dictionary<string, TensorData> _byName;

    private TfjsLayersModel(string path, string? kerasVersion, IReadOnlyList<TfjsLayer> layers, IReadOnlyList<TensorData> weights)
    {
        ModelJsonPath = path;
        KerasVersion = kerasVersion;
        Layers = layers;
        Weights = weights;
        _byName = weights.ToDictionary(w => w.Name, StringComparer.Ordinal);
    }

    /// <summary>The model.json file this model was read from.</summary>
    public string ModelJsonPath { get; }

    /// <summary>"keras_version" of the export, when recorded.</summary>
    public string? KerasVersion { get; }

    /// <summary>The top-level layers in topology order (nested models are not expanded).</summary>
    public IReadOnlyList<TfjsLayer> Layers { get; }

    /// <summary>All weights in manifest order, named as in the manifest ("conv1/kernel", ...).</summary>
    public IReadOnlyList<TensorData> Weights { get; }

    /// <summary>The weight with this manifest name.</summary>
    /// <exception cref="KeyNotFoundException">No such weight (the message names it and the file).</exception>
    public TensorData GetWeight(string name) => _byName.TryGetValue(name, out TensorData? w)
        ? w
        : throw new KeyNotFoundException($"'{ModelJsonPath}': no weight named '{name}'");

    /// <summary>Looks a weight up by manifest name.</summary>
    public bool TryGetWeight(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TensorData? weight) =>
        _byName.TryGetValue(name, out weight);

    /// <summary>The weights of one layer (names starting with "layerName/"), in manifest order.</summary>
    public IReadOnlyList<TensorData> WeightsOf(string layerName) =>
        Weights.Where(w => w.Name.StartsWith(layerName + "/", StringComparison.Ordinal)).ToList();

    /// <summary>Reads model.json and every weight shard it lists (paths are relative to its directory).</summary>
    /// <param name="modelJsonPath">Path of model.json.</param>
    /// <exception cref="FileNotFoundException">model.json does not exist.</exception>
    /// <exception cref="FileFormatException">Invalid JSON, a missing or wrongly sized shard, an unknown dtype, ...</exception>
    public static TfjsLayersModel Load(string modelJsonPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelJsonPath);
        string path = Path.GetFullPath(modelJsonPath);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"TensorFlow.js model file '{modelJsonPath}' does not exist", modelJsonPath);
        }

        byte[] json = File.ReadAllBytes(path);
        // JsonDocument checks the UTF-8 of strings only when they are read (GetString then throws
        // InvalidOperationException), so the whole file is checked here, once.
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            throw new FileFormatException(modelJsonPath, null, "not valid JSON: the file holds invalid UTF-8 bytes");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FileFormatException(modelJsonPath, null, $"not valid JSON: {e.Message}", e);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FileFormatException(modelJsonPath, null, "model.json must hold a JSON object");
            }

            if (!root.TryGetProperty("modelTopology", out JsonElement topology) || topology.ValueKind != JsonValueKind.Object)
            {
                throw new FileFormatException(modelJsonPath, null, "no \"modelTopology\" object: not a TensorFlow.js layers model (graph models are not supported)");
            }

            string? kerasVersion = topology.TryGetProperty("keras_version", out JsonElement kv) && kv.ValueKind == JsonValueKind.String
                ? kv.GetString()
                : null;
            List<TfjsLayer> layers = ParseLayers(topology, modelJsonPath);

            if (!root.TryGetProperty("weightsManifest", out JsonElement manifest) || manifest.ValueKind != JsonValueKind.Array)
            {
                throw new FileFormatException(modelJsonPath, null, "no \"weightsManifest\" array");
            }

            List<TensorData> weights = ReadWeights(manifest, Path.GetDirectoryName(path)!, modelJsonPath);
            return new TfjsLayersModel(modelJsonPath, kerasVersion, layers, weights);
        }
    }

    private static JsonElement CreateEmptyObject()
    {
        using JsonDocument empty = JsonDocument.Parse("{}");
        return empty.RootElement.Clone();
    }

    private static List<TfjsLayer> ParseLayers(JsonElement topology, string file)
    {
        // Keras exports wrap the model in "model_config"; tfjs' own saves put it at the top.
        JsonElement model = topology.TryGetProperty("model_config", out JsonElement mc) && mc.ValueKind == JsonValueKind.Object ? mc : topology;
        if (!model.TryGetProperty("config", out JsonElement config))
        {
            throw new FileFormatException(file, null, "modelTopology has no model \"config\"");
        }

        // Old Sequential models store the layer list directly as "config".
        JsonElement layerList = config.ValueKind == JsonValueKind.Array ? config
            : config.ValueKind == JsonValueKind.Object && config.TryGetProperty("layers", out JsonElement l) ? l
            : default;
        if (layerList.ValueKind != JsonValueKind.Array)
        {
            throw new FileFormatException(file, null, "modelTopology's model config has no \"layers\" array");
        }

        var layers = new List<TfjsLayer>();
        int index = 0;
        foreach (JsonElement layer in layerList.EnumerateArray())
        {
            if (layer.ValueKind != JsonValueKind.Object
                || !layer.TryGetProperty("class_name", out JsonElement cls) || cls.ValueKind != JsonValueKind.String)
            {
                throw new FileFormatException(file, "", $"layer #{index}", "layer entry has no \"class_name\"");
            }

            JsonElement layerConfig = layer.TryGetProperty("config", out JsonElement c) && c.ValueKind == JsonValueKind.Object
                ? c.Clone()
                : EmptyConfig;
            string? name = layer.TryGetProperty("name", out JsonElement n) && n.ValueKind == JsonValueKind.String ? n.GetString()
                : layerConfig.TryGetProperty("name", out JsonElement cn) && cn.ValueKind == JsonValueKind.String ? cn.GetString()
                : null;
            if (string.IsNullOrEmpty(name))
            {
                throw new FileFormatException(file, "", $"layer #{index}", "layer has no name");
            }

            layers.Add(new TfjsLayer(cls.GetString()!, name, layerConfig, ParseInbound(layer)));
            index++;
        }

        return layers;
    }

    // Keras 2 functional models: "inbound_nodes": [[["input_1", 0, 0, {}], ...], ...].
    private static List<string> ParseInbound(JsonElement layer)
    {
        var inbound = new List<string>();
        if (layer.TryGetProperty("inbound_nodes", out JsonElement nodes) && nodes.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement node in nodes.EnumerateArray().Where(n => n.ValueKind == JsonValueKind.Array))
            {
                foreach (JsonElement entry in node.EnumerateArray())
                {
                    if (entry.ValueKind == JsonValueKind.Array && entry.GetArrayLength() > 0
                        && entry[0].ValueKind == JsonValueKind.String)
                    {
                        inbound.Add(entry[0].GetString()!);
                    }
                }
            }
        }

        return inbound;
    }

    private static List<TensorData> ReadWeights(JsonElement manifest, string directory, string file)
    {
        var weights = new List<TensorData>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        int groupIndex = 0;
        foreach (JsonElement group in manifest.EnumerateArray())
        {
            string groupLabel = $"weightsManifest[{groupIndex}]";
            if (group.ValueKind != JsonValueKind.Object
                || !group.TryGetProperty("paths", out JsonElement paths) || paths.ValueKind != JsonValueKind.Array
                || !group.TryGetProperty("weights", out JsonElement specs) || specs.ValueKind != JsonValueKind.Array)
            {
                throw new FileFormatException(file, "", groupLabel, "group needs \"paths\" and \"weights\" arrays");
            }

            var specList = specs.EnumerateArray().Select(s => ParseSpec(s, file, groupLabel)).ToList();
            byte[] data = ReadGroup(paths, directory, file, groupLabel, out string shardList);
            // Each weight's size fits a long, but their sum need not (Sum would throw OverflowException).
            long expected = 0;
            foreach (WeightSpec spec in specList)
            {
                expected = spec.StoredBytes > long.MaxValue - expected
                    ? throw new FileFormatException(file, "", groupLabel, "the group's weights need more bytes than any file holds (shapes overflow)")
                    : expected + spec.StoredBytes;
            }

            if (data.LongLength != expected)
            {
                throw new FileFormatException(file, "", groupLabel,
                    $"shard(s) {shardList} hold {data.LongLength} bytes but the group's weights ({string.Join(", ", specList.Select(s => s.Name))}) need {expected}");
            }

            long offset = 0;
            foreach (WeightSpec spec in specList)
            {
                if (!names.Add(spec.Name))
                {
                    throw new FileFormatException(file, "weight", spec.Name, "weight listed more than once in the manifest");
                }

                weights.Add(spec.Decode(data.AsSpan((int)offset, (int)spec.StoredBytes)));
                offset += spec.StoredBytes;
            }

            groupIndex++;
        }

        return weights;
    }

    private static byte[] ReadGroup(JsonElement paths, string directory, string file, string groupLabel, out string shardList)
    {
        var shards = new List<string>();
        foreach (JsonElement p in paths.EnumerateArray())
        {
            if (p.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(p.GetString()))
            {
                throw new FileFormatException(file, "", groupLabel, "\"paths\" must hold file names");
            }

            string relative = p.GetString()!;
            // No file system takes a path this long; quoting it (twice) in the message would only bloat the error.
            if (relative.Length > MaxShardPathLength)
            {
                throw new FileFormatException(file, "", groupLabel, $"a shard path of {relative.Length} characters is longer than any file path ({MaxShardPathLength})");
            }

            // Path.GetFullPath throws ArgumentException for an embedded NUL, which no file name can hold.
            if (relative.Contains('\0', StringComparison.Ordinal))
            {
                throw new FileFormatException(file, "", groupLabel, "a shard path holds a NUL character");
            }

            string full = Path.GetFullPath(Path.Combine(directory, relative));
            // The manifest is data: it may only point at files beside model.json or below it.
            if (Path.IsPathRooted(relative) || !full.StartsWith(directory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new FileFormatException(file, "", groupLabel, $"shard path '{relative}' leaves the model's directory");
            }

            if (!File.Exists(full))
            {
                throw new FileFormatException(file, "", groupLabel, $"weight shard '{relative}' is missing (looked for '{full}')");
            }

            shards.Add(full);
        }

        shardList = string.Join(", ", shards.Select(Path.GetFileName));
        long total = shards.Sum(s => new FileInfo(s).Length);
        if (total > Array.MaxLength)
        {
            throw new FileFormatException(file, "", groupLabel, $"shards total {total} bytes, more than one array can hold");
        }

        var data = new byte[total];
        int offset = 0;
        foreach (string shard in shards)
        {
            using var stream = new FileStream(shard, FileMode.Open, FileAccess.Read, FileShare.Read);
            int length = (int)stream.Length;
            stream.ReadExactly(data, offset, length);
            offset += length;
        }

        return data;
    }

    private static WeightSpec ParseSpec(JsonElement spec, string file, string groupLabel)
    {
        if (spec.ValueKind != JsonValueKind.Object
            || !spec.TryGetProperty("name", out JsonElement n) || n.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(n.GetString()))
        {
            throw new FileFormatException(file, "", groupLabel, "weight entry without a \"name\"");
        }

        string name = n.GetString()!;
        if (!spec.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw new FileFormatException(file, "weight", name, "weight entry without a \"shape\" array");
        }

        var shape = new long[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (JsonElement d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
            {
                throw new FileFormatException(file, "weight", name, $"\"shape\" must hold non-negative integers, found {shapeElement.GetRawText()}");
            }

            shape[i++] = v;
        }

        long count = TensorData.CountElements(shape) ?? throw new FileFormatException(file, "weight", name, "shape overflows");
        string dtype = spec.TryGetProperty("dtype", out JsonElement dt) && dt.ValueKind == JsonValueKind.String
            ? dt.GetString()!
            : "float32"; // tfjs' default when the manifest omits it
        (TensorDType type, int size) = dtype switch
        {
            "float32" => (TensorDType.F32, 4),
            "int32" => (TensorDType.I32, 4),
            "bool" => (TensorDType.Bool, 1),
            _ => throw new FileFormatException(file, "weight", name, $"unsupported weight dtype \"{dtype}\" (float32, int32 and bool are read)"),
        };

        Quantization? quantization = null;
        if (spec.TryGetProperty("quantization", out JsonElement q) && q.ValueKind == JsonValueKind.Object)
        {
            quantization = ParseQuantization(q, type, file, name);
            size = quantization.StoredSize;
        }

        long stored;
        try
        {
            stored = checked(count * size);
        }
        catch (OverflowException)
        {
            throw new FileFormatException(file, "weight", name, "shape overflows");
        }

        return new WeightSpec(name, shape, type, stored, quantization);
    }

    private static Quantization ParseQuantization(JsonElement q, TensorDType type, string file, string name)
    {
        string qtype = q.TryGetProperty("dtype", out JsonElement d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
        if (type != TensorDType.F32)
        {
            throw new FileFormatException(file, "weight", name, "quantisation is supported for float32 weights only");
        }

        if (qtype == "float16")
        {
            return new Quantization(qtype, 2, 1, 0);
        }

        if (qtype is not ("uint8" or "uint16"))
        {
            throw new FileFormatException(file, "weight", name, $"unsupported quantisation dtype \"{qtype}\" (uint8, uint16 and float16 are read)");
        }

        if (!q.TryGetProperty("scale", out JsonElement scale) || scale.ValueKind != JsonValueKind.Number
            || !q.TryGetProperty("min", out JsonElement min) || min.ValueKind != JsonValueKind.Number)
        {
            throw new FileFormatException(file, "weight", name, $"{qtype} quantisation needs numeric \"scale\" and \"min\"");
        }

        return new Quantization(qtype, qtype == "uint8" ? 1 : 2, scale.GetDouble(), min.GetDouble());
    }

    private sealed record Quantization(string DType, int StoredSize, double Scale, double Min);

    private sealed record WeightSpec(string Name, long[] Shape, TensorDType DType, long StoredBytes, Quantization? Quantization)
    {
        public TensorData Decode(ReadOnlySpan<byte> stored)
        {
            if (Quantization is null)
            {
                return new TensorData(Name, DType, Shape, stored.ToArray());
            }

            int count = (int)(StoredBytes / Quantization.StoredSize);
            var values = new float[count];
            for (int i = 0; i < count; i++)
            {
                values[i] = Quantization.DType switch
                {
                    "float16" => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(stored[(2 * i)..])),
                    "uint8" => (float)(stored[i] * Quantization.Scale + Quantization.Min),
                    _ => (float)(BinaryPrimitives.ReadUInt16LittleEndian(stored[(2 * i)..]) * Quantization.Scale + Quantization.Min),
                };
            }

            return TensorData.FromFloats(Name, Shape, values);
        }
    }
}
