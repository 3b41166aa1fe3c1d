using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Wsss.Model;
using Wsss.Model.Serialization;

namespace Wsss.Samples.Bench.Fuzz;

/// <summary>Generates safetensors images and damages them where the format is most fragile: the length field and the JSON header.</summary>
internal static class SafetensorsCases
{
    private static readonly TensorDType[] DTypes = Enum.GetValues<TensorDType>();

    /// <summary>One tensor with a small random shape and random bytes.</summary>
    public static Gen<TensorData> Tensor(Gen<string> names) =>
        Gen.Select(names, Gen.OneOf(DTypes), Gen.Int[0, 3].SelectMany(rank => Gen.Int[0, 5].Array[rank]), Gen.UInt)
            .Select((name, dtype, dims, seed) =>
            {
                long[] shape = dims.Select(d => (long)d).ToArray();
                long count = shape.Aggregate(1L, (a, d) => a * d);
                var data = new byte[count * dtype.ElementSize()];
                new Random((int)seed).NextBytes(data);
                return new TensorData(name, dtype, shape, data);
            });

    /// <summary>1 to 4 tensors with distinct names.</summary>
    public static Gen<TensorData[]> Tensors { get; } = Tensor(FuzzText.Name).Array[1, 4]
        .Where(ts => ts.Select(t => t.Name).Distinct(StringComparer.Ordinal).Count() == ts.Length && ts.All(t => t.Name != "__metadata__"));

    public static Gen<Dictionary<string, string>> Metadata { get; } =
        Gen.Select(FuzzText.Name, FuzzText.Name).Array[0, 3]
            .Select(pairs => pairs.DistinctBy(p => p.Item1).ToDictionary(p => p.Item1, p => p.Item2, StringComparer.Ordinal));

    /// <summary>
    /// Damage to a safetensors image: byte-level anywhere, flips in the length field and header, an absurd
    /// length field, or a JSON edit of the header (the length field then matches the new header).
    /// </summary>
    public static Gen<(Mutation? Bytes, JsonMutation? Json)> Damage { get; } = Gen.Frequency(
        (3, Mutations.Bytes.Select(m => ((Mutation?)m, (JsonMutation?)null))),
        (1, Mutations.HeaderFlips(64).Select(m => ((Mutation?)m, (JsonMutation?)null))),
        (1, Mutations.HeaderFields((0, 8, false), (0, 4, false), (4, 4, false)).Select(m => ((Mutation?)m, (JsonMutation?)null))),
        (4, Mutations.Json.Select(j => ((Mutation?)null, (JsonMutation?)j))));

    /// <summary>Applies a damage to a valid image; returns the new bytes and the description.</summary>
    public static (byte[] Bytes, string What) Apply(byte[] image, (Mutation? Bytes, JsonMutation? Json) damage)
    {
        if (damage.Bytes is { } m)
        {
            return (m.Apply(image), m.ToString());
        }

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(image);
        string header = Encoding.UTF8.GetString(image, 8, (int)n);
        JsonNode document = JsonNode.Parse(header)!;
        string edited = damage.Json!.Apply(document, out string path);
        byte[] json = FuzzText.Utf8.GetBytes(edited);
        var result = new byte[8 + json.Length + (image.Length - 8 - (int)n)];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)json.Length);
        json.CopyTo(result, 8);
        image.AsSpan(8 + (int)n).CopyTo(result.AsSpan(8 + json.Length));
        return (result, $"{damage.Json} at {path}");
    }

    /// <summary>A canonical description of tensors and metadata, equal exactly when the content is.</summary>
    public static string Fingerprint(IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in metadata.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            text.Append("meta ").Append(key).Append('=').Append(value).Append('\n');
        }

        foreach (TensorData t in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            text.Append(t.Name).Append(' ').Append(t.DType).Append(" [").AppendJoin(',', t.Shape).Append("] ")
                .Append(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(t.Data))).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>What every tensor read must satisfy: its bytes match its shape and dtype.</summary>
    public static string? CheckTensors(IEnumerable<TensorData> tensors)
    {
        foreach (TensorData t in tensors)
        {
            if (t.Data.LongLength != t.ElementCount * t.DType.ElementSize() || t.Shape.Any(d => d < 0))
            {
                return $"tensor '{t.Name}' has {t.Data.LongLength} bytes for {t.DType} [{string.Join(",", t.Shape)}]";
            }
        }

        return null;
    }

    public static Func<object, string?> Expect(string expected) => value =>
    {
        string actual = value.ToString()!;
        return actual == expected ? null : $"expected\n{expected}\ngot\n{actual}";
    };
}

/// <summary><see cref="SafetensorsFile.Read(string)"/>: any safetensors file.</summary>
internal sealed class SafetensorsTarget : FuzzTarget
{
    private const string FileName = "weights.safetensors";

    public override string Name => "safetensors";

    public override Type DocumentedException => typeof(FileFormatException);

    public override Gen<FuzzCase> Cases { get; } =
        Gen.Select(SafetensorsCases.Tensors, SafetensorsCases.Metadata, Gen.Int[0, 3], SafetensorsCases.Damage)
            .Select((tensors, metadata, intact, damage) =>
            {
                byte[] image = SafetensorsFile.ToBytes(tensors, metadata);
                if (intact == 0)
                {
                    return new FuzzCase([new FuzzFile(FileName, image)], FileName, "none", SafetensorsCases.Expect(SafetensorsCases.Fingerprint(tensors, metadata)));
                }

                var (bytes, what) = SafetensorsCases.Apply(image, damage);
                return new FuzzCase([new FuzzFile(FileName, bytes)], FileName, what);
            });

    public override (object Value, long Bytes) Read(string directory)
    {
        SafetensorsContent content = SafetensorsFile.Read(Path.Combine(directory, FileName));
        return (new ReadContent(content), content.Tensors.Sum(t => t.Data.LongLength));
    }

    public override string? Invariant(object value) => SafetensorsCases.CheckTensors(((ReadContent)value).Content.Tensors);

    /// <summary>The content read, compared by its fingerprint.</summary>
    private sealed record ReadContent(SafetensorsContent Content)
    {
        public override string ToString() => SafetensorsCases.Fingerprint(Content.Tensors, Content.Metadata);
    }
}

/// <summary>
/// <see cref="ModelFile.Load"/>: Wsss model files (safetensors with the model metadata), damaged as safetensors
/// files and in their metadata values (format version, backbone, width, class names, normalisation, date).
/// </summary>
internal sealed class ModelFileTarget : FuzzTarget
{
    private const string FileName = "model.safetensors";

    public override string Name => "model-file";

    public override Type DocumentedException => typeof(FileFormatException);

    private static Gen<ModelFileMetadata> Metadata { get; } =
        Gen.Select(Gen.OneOf(Enum.GetValues<BackboneKind>()), Gen.Double[0.1, 2], FuzzText.Name.Where(n => !string.IsNullOrWhiteSpace(n)).Array[1, 4], Gen.Int[0, 1])
            .Select((backbone, width, names, norm) => new ModelFileMetadata
            {
                Backbone = backbone,
                BackboneWidth = Math.Round(width, 3),
                ClassNames = names.Distinct(StringComparer.Ordinal).ToArray(),
                Normalization = norm == 0 ? InputNormalization.ImageNet : InputNormalization.MinusOneToOne,
                TrainingOptionsJson = "{\"iterations\":10}",
                Created = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
            });

    /// <summary>Values a damaged model file may carry in a metadata entry.</summary>
    private static Gen<string> AbsurdMetadataValue { get; } = Gen.OneOf(
        Gen.OneOf("", "-1", "0", "2", "99999999999999999999", "1e400", "NaN", "Infinity", "-0", "0x10", " 1", "MobileNetV1", "SmallCnn",
            "mobilenetv1", "7", "[]", "[\"a\",\"a\"]", "[\"\"]", "[1]", "null", "{}", "{\"scale\":0,\"mean\":[0,0,0],\"std\":[1,1,1]}",
            "{\"scale\":1,\"mean\":[0,0],\"std\":[1,1,1]}", "{\"scale\":1e400,\"mean\":[0,0,0],\"std\":[1,1,1]}",
            "{\"scale\":1,\"mean\":[\"a\",0,0],\"std\":[1,1,1]}", "{\"scale\":1,\"mean\":[0,0,0],\"std\":[0,1,1]}", "not a date", "9999-99-99"),
        Gen.Int[1, 4].Select(k => new string('[', (int)Math.Pow(10, k)) + new string(']', (int)Math.Pow(10, k))),
        Gen.Int[1, 3].Select(k => "[" + string.Join(",", Enumerable.Range(0, (int)Math.Pow(30, k)).Select(i => $"\"c{i}\"")) + "]"));

    private static readonly string[] MetadataKeys =
        ["format", "format_version", "backbone", "backbone_width", "class_names", "input_normalization", "training_options", "created", "library_version"];

    public override Gen<FuzzCase> Cases { get; } =
        Gen.Select(SafetensorsCases.Tensors, Metadata, Gen.Int[0, 4], SafetensorsCases.Damage, Gen.Select(Gen.OneOf(MetadataKeys), AbsurdMetadataValue, Gen.Bool))
            .Select((tensors, metadata, mode, damage, entry) =>
            {
                var map = Describe(metadata);
                byte[] Image(IReadOnlyDictionary<string, string> m) => SafetensorsFile.ToBytes(tensors, m);
                if (mode == 0)
                {
                    return new FuzzCase([new FuzzFile(FileName, Image(map))], FileName, "none", SafetensorsCases.Expect(Fingerprint(metadata, tensors)));
                }

                if (mode == 1)
                {
                    // A metadata entry with an absurd value, or missing: the file is still valid safetensors.
                    var (key, value, remove) = entry;
                    var damaged = new Dictionary<string, string>(map, StringComparer.Ordinal);
                    if (remove)
                    {
                        damaged.Remove(key);
                    }
                    else
                    {
                        damaged[key] = value;
                    }

                    return new FuzzCase([new FuzzFile(FileName, Image(damaged))], FileName, remove ? $"metadata '{key}' removed" : $"metadata '{key}' = {Short(value)}");
                }

                var (bytes, what) = SafetensorsCases.Apply(Image(map), damage);
                return new FuzzCase([new FuzzFile(FileName, bytes)], FileName, what);
            });

    public override (object Value, long Bytes) Read(string directory)
    {
        ModelFile file = ModelFile.Load(Path.Combine(directory, FileName));
        return (Fingerprint(file.Metadata, file.Tensors), file.Tensors.Sum(t => t.Data.LongLength));
    }

    private static string Short(string value) => value.Length > 40 ? $"{value[..20]}...({value.Length} chars)" : value;

    private static Dictionary<string, string> Describe(ModelFileMetadata m) => new(StringComparer.Ordinal)
    {
        ["format"] = ModelFileMetadata.FormatName,
        ["format_version"] = ModelFileMetadata.CurrentFormatVersion.ToString(CultureInfo.InvariantCulture),
        ["backbone"] = m.Backbone.ToString(),
        ["backbone_width"] = m.BackboneWidth.ToString("R", CultureInfo.InvariantCulture),
        ["class_names"] = System.Text.Json.JsonSerializer.Serialize(m.ClassNames),
        ["input_normalization"] = m.Normalization.ToString(),
        ["training_options"] = m.TrainingOptionsJson,
        ["library_version"] = "fuzz",
        ["created"] = "2025-01-02T03:04:05.0000000Z",
    };

    private static string Fingerprint(ModelFileMetadata m, IEnumerable<TensorData> tensors) =>
        FormattableString.Invariant($"{m.Backbone} {m.BackboneWidth:R} [{string.Join("|", m.ClassNames)}] {m.Normalization} {m.TrainingOptionsJson} {m.Created:O} v{m.FormatVersion}\n")
        + SafetensorsCases.Fingerprint(tensors, new Dictionary<string, string>());
}
