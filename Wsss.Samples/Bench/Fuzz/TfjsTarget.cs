using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Wsss.Model.Serialization;

namespace Wsss.Samples.Bench.Fuzz;

/// <summary>
/// <see cref="TfjsLayersModel.Load"/>: a TensorFlow.js layers model.json (a few Keras layers, one or two
/// manifest groups of float32 / int32 / bool weights, some quantised) with its weights split over shard files;
/// damaged in model.json (bytes, JSON edits: absurd shapes, dtypes, paths, deep or huge values) or in a shard
/// (cut, extended, removed, flipped).
/// </summary>
internal sealed class TfjsTarget : FuzzTarget
{
    private const string ModelJson = "model.json";

    public override string Name => "tfjs";

    public override Type DocumentedException => typeof(FileFormatException);

    private sealed record Weight(string Name, long[] Shape, string DType, string? Quantization, double Scale, double Min, byte[] Stored);

    private sealed record Model(string[] Layers, Weight[][] Groups, int[] ShardsPerGroup);

    private static Gen<Weight> WeightGen(string layer, string kind) =>
        Gen.Select(Gen.Int[0, 3].SelectMany(rank => Gen.Int[0, 4].Array[rank]), Gen.OneOf("float32", "int32", "bool", "uint8", "uint16", "float16"), Gen.UInt)
            .Select((dims, type, seed) =>
            {
                var random = new Random((int)seed);
                long[] shape = dims.Select(d => (long)d).ToArray();
                long count = shape.Aggregate(1L, (a, d) => a * d);
                string dtype = type is "int32" or "bool" ? type : "float32";
                string? quantization = type is "uint8" or "uint16" or "float16" ? type : null;
                int size = type switch { "bool" or "uint8" => 1, "uint16" or "float16" => 2, _ => 4 };
                var stored = new byte[count * size];
                random.NextBytes(stored);
                if (type == "bool")
                {
                    for (int i = 0; i < stored.Length; i++)
                    {
                        stored[i] &= 1;
                    }
                }

                return new Weight($"{layer}/{kind}", shape, dtype, quantization, Math.Round(random.NextDouble(), 4) + 0.001, Math.Round(random.NextDouble() - 0.5, 4), stored);
            });

    private static Gen<Model> ModelGen { get; } =
        Gen.Int[1, 4].SelectMany(layerCount =>
        {
            string[] layers = Enumerable.Range(0, layerCount).Select(i => $"layer_{i}").ToArray();
            Gen<Weight[]> group = Gen.Int[0, layerCount - 1].SelectMany(l => Gen.OneOf("kernel", "bias", "gamma").SelectMany(k => WeightGen(layers[l], k))).Array[1, 3];
            return Gen.Select(group.Array[1, 2], Gen.Int[1, 3].Array[2]).Select((groups, shards) =>
            {
                // Weight names are unique across the manifest (the reader rejects repeats as damage).
                var seen = new HashSet<string>(StringComparer.Ordinal);
                Weight[][] unique = groups.Select(g => g.Where(w => seen.Add(w.Name)).ToArray()).Where(g => g.Length > 0).ToArray();
                return new Model(layers, unique, shards);
            });
        });

    private static (JsonObject Json, List<FuzzFile> Shards) Build(Model model)
    {
        var manifest = new JsonArray();
        var shards = new List<FuzzFile>();
        for (int g = 0; g < model.Groups.Length; g++)
        {
            byte[] bytes = model.Groups[g].SelectMany(w => w.Stored).ToArray();
            int count = Math.Min(model.ShardsPerGroup[g], Math.Max(1, bytes.Length));
            var paths = new JsonArray();
            for (int s = 0; s < count; s++)
            {
                int from = bytes.Length * s / count, to = bytes.Length * (s + 1) / count;
                string name = $"group{g + 1}-shard{s + 1}of{count}.bin";
                shards.Add(new FuzzFile(name, bytes[from..to]));
                paths.Add(name);
            }

            var weights = new JsonArray();
            foreach (Weight w in model.Groups[g])
            {
                var spec = new JsonObject { ["name"] = w.Name, ["shape"] = new JsonArray(w.Shape.Select(d => (JsonNode)d).ToArray()), ["dtype"] = w.DType };
                if (w.Quantization is { } q)
                {
                    spec["quantization"] = q == "float16"
                        ? new JsonObject { ["dtype"] = q }
                        : new JsonObject { ["dtype"] = q, ["scale"] = w.Scale, ["min"] = w.Min };
                }

                weights.Add(spec);
            }

            manifest.Add(new JsonObject { ["paths"] = paths, ["weights"] = weights });
        }

        var layers = new JsonArray();
        for (int i = 0; i < model.Layers.Length; i++)
        {
            var layer = new JsonObject
            {
                ["class_name"] = i == 0 ? "InputLayer" : "Conv2D",
                ["config"] = new JsonObject { ["name"] = model.Layers[i], ["filters"] = 4, ["kernel_size"] = new JsonArray(3, 3), ["padding"] = "same" },
                ["name"] = model.Layers[i],
                ["inbound_nodes"] = i == 0 ? new JsonArray() : new JsonArray(new JsonArray(new JsonArray(model.Layers[i - 1], 0, 0, new JsonObject()))),
            };
            layers.Add(layer);
        }

        var json = new JsonObject
        {
            ["format"] = "layers-model",
            ["modelTopology"] = new JsonObject
            {
                ["keras_version"] = "2.4.0",
                ["model_config"] = new JsonObject { ["class_name"] = "Functional", ["config"] = new JsonObject { ["name"] = "fuzz", ["layers"] = layers } },
            },
            ["weightsManifest"] = manifest,
        };
        return (json, shards);
    }

    private static string Expected(Model model)
    {
        var text = new StringBuilder();
        for (int i = 0; i < model.Layers.Length; i++)
        {
            text.Append(i == 0 ? "InputLayer" : "Conv2D").Append(' ').Append(model.Layers[i]).Append(" <- ").Append(i == 0 ? "" : model.Layers[i - 1]).Append('\n');
        }

        var tensors = new List<TensorData>();
        foreach (Weight w in model.Groups.SelectMany(g => g))
        {
            tensors.Add(w.Quantization switch
            {
                null => new TensorData(w.Name, w.DType switch { "int32" => TensorDType.I32, "bool" => TensorDType.Bool, _ => TensorDType.F32 }, w.Shape, w.Stored),
                "float16" => TensorData.FromFloats(w.Name, w.Shape, Enumerable.Range(0, w.Stored.Length / 2)
                    .Select(i => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(w.Stored.AsSpan(2 * i)))).ToArray()),
                "uint8" => TensorData.FromFloats(w.Name, w.Shape, w.Stored.Select(b => (float)((b * w.Scale) + w.Min)).ToArray()),
                _ => TensorData.FromFloats(w.Name, w.Shape, Enumerable.Range(0, w.Stored.Length / 2)
                    .Select(i => (float)((BinaryPrimitives.ReadUInt16LittleEndian(w.Stored.AsSpan(2 * i)) * w.Scale) + w.Min)).ToArray()),
            });
        }

        return text.Append(SafetensorsCases.Fingerprint(tensors, new Dictionary<string, string>())).ToString();
    }

    private static string Describe(TfjsLayersModel model)
    {
        var text = new StringBuilder();
        foreach (TfjsLayer layer in model.Layers)
        {
            text.Append(layer.ClassName).Append(' ').Append(layer.Name).Append(" <- ").AppendJoin(',', layer.InboundLayers).Append('\n');
        }

        return text.Append(SafetensorsCases.Fingerprint(model.Weights, new Dictionary<string, string>())).ToString();
    }

    private static Gen<Mutation> ShardDamage { get; } = Gen.Frequency(
        (3, Mutations.Fraction.Select(f => (Mutation)new Truncate(f))),
        (1, Gen.Select(Mutations.Fraction, Gen.Byte.Array[1, 16]).Select((f, b) => (Mutation)new InsertBytes(f, b))),
        (1, Gen.Select(Mutations.Fraction.Array[1, 4], Gen.Byte.Array[4]).Select((p, m) => (Mutation)new FlipBytes(p, m))));

    public override Gen<FuzzCase> Cases { get; } =
        Gen.Select(ModelGen, Gen.Int[0, 9], Mutations.Bytes, Mutations.Json, Gen.Select(Gen.Int[0, 100], ShardDamage))
            .Select((model, mode, bytes, json, shard) =>
            {
                var (document, shards) = Build(model);
                byte[] modelJson = FuzzText.Utf8.GetBytes(document.ToJsonString());
                List<FuzzFile> Files(byte[] jsonBytes, IEnumerable<FuzzFile> shardFiles) => [new FuzzFile(ModelJson, jsonBytes), .. shardFiles];
                switch (mode)
                {
                    case 0:
                        return new FuzzCase(Files(modelJson, shards), ModelJson, "none", SafetensorsCases.Expect(Expected(model)));
                    case 1 or 2:
                        return new FuzzCase(Files(bytes.Apply(modelJson), shards), ModelJson, bytes.ToString());
                    case <= 6:
                        {
                            string edited = json.Apply(document, out string path);
                            return new FuzzCase(Files(FuzzText.Utf8.GetBytes(edited), shards), ModelJson, $"{json} at {path}");
                        }

                    default:
                        {
                            if (shards.Count == 0)
                            {
                                return new FuzzCase(Files(modelJson, shards), ModelJson, "none", SafetensorsCases.Expect(Expected(model)));
                            }

                            var (which, damage) = shard;
                            FuzzFile victim = shards[which % shards.Count];
                            if (mode == 9)
                            {
                                return new FuzzCase(Files(modelJson, shards.Where(s => s != victim)), victim.Path, "shard removed");
                            }

                            return new FuzzCase(Files(modelJson, shards.Select(s => s == victim ? s with { Bytes = damage.Apply(s.Bytes) } : s)), victim.Path, damage.ToString());
                        }
                }
            });

    public override (object Value, long Bytes) Read(string directory)
    {
        TfjsLayersModel model = TfjsLayersModel.Load(Path.Combine(directory, ModelJson));
        return (Describe(model), model.Weights.Sum(w => w.Data.LongLength));
    }

    public override IEnumerable<string> NamesInError(string directory, FuzzCase c) =>
        c.DamagedFile == ModelJson ? [Path.Combine(directory, ModelJson)] : [Path.Combine(directory, ModelJson), c.DamagedFile];
}
