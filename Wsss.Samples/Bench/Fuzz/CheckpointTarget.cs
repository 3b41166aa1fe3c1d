using System.Buffers.Binary;
using System.Globalization;
using CsCheck;
using TorchSharp;
using Wsss.Engine;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Model.Serialization;
using Wsss.Training;
using static TorchSharp.torch;

namespace Wsss.Samples.Bench.Fuzz;

/// <summary>
/// <see cref="Checkpoint.Load"/>: a real checkpoint of a tiny network (one convolution as the backbone, so a case
/// is kilobytes), damaged as a safetensors file, in its metadata (iteration, seed, kind), in its generator
/// state (libtorch's mt19937 fields) and in its tensors' dtypes and shapes. Loading restores into one network
/// and optimiser kept for all cases; an undamaged case must restore exactly the saved state.
/// </summary>
internal sealed class CheckpointTarget : FuzzTarget
{
    private const string FileName = "run.ckpt";
    private const int Seed = 5;

    private readonly RrmNetwork network;
    private readonly GroupedSgd optimizer;
    private readonly ModelFileMetadata metadata;
    private readonly IReadOnlyList<TensorData> savedTensors;
    private readonly IReadOnlyDictionary<string, string> savedMetadata;
    private readonly string expected;

    public CheckpointTarget()
    {
        network = new RrmNetwork(new TinyBackbone(), classes: 2);
        optimizer = new GroupedSgd(network.ParameterGroups(), 0.01, 0.9);
        metadata = new ModelFileMetadata
        {
            Backbone = BackboneKind.SmallCnn,
            ClassNames = ["a", "b"],
            Normalization = InputNormalization.ImageNet,
        };

        // One SGD step, so that the optimiser has momentum buffers to save.
        using (NewDisposeScope())
        {
            using var output = network.forward(rand(2, 3, 16, 16));
            output.ClassLogits.sum().Plus(output.SegmentationLogits.sum()).backward();
            optimizer.Step();
        }

        string directory = Path.Combine(Path.GetTempPath(), "wsss-fuzz-checkpoint-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string path = Path.Combine(directory, FileName);
            Checkpoint.Save(path, metadata, network, optimizer, iteration: 7, seed: Seed);
            SafetensorsContent content = SafetensorsFile.Read(path);
            savedTensors = content.Tensors;
            savedMetadata = content.Metadata;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }

        expected = Fingerprint(7, savedTensors);
        Cases = Gen.Frequency(
            (1, Gen.Const(new FuzzCase([new FuzzFile(FileName, Image(savedTensors, savedMetadata))], FileName, "none", SafetensorsCases.Expect(expected)))),
            (3, SafetensorsCases.Damage.Select(d =>
            {
                var (bytes, what) = SafetensorsCases.Apply(Image(savedTensors, savedMetadata), d);
                return new FuzzCase([new FuzzFile(FileName, bytes)], FileName, what);
            })),
            (2, Gen.Select(Gen.OneOf("iteration", "seed", "checkpoint", "backbone", "class_names", "backbone_width"), Gen.OneOf(
                    "", "-1", "0", "2147483648", "99999999999999999999", "1e3", "07", " 7", "x", "MobileNetV1", "[\"a\"]", "[\"a\",\"b\",\"c\"]", "6"), Gen.Bool)
                .Select((key, value, remove) =>
                {
                    var map = new Dictionary<string, string>(savedMetadata, StringComparer.Ordinal);
                    if (remove)
                    {
                        map.Remove(key);
                    }
                    else
                    {
                        map[key] = value;
                    }

                    return new FuzzCase([new FuzzFile(FileName, Image(savedTensors, map))], FileName, remove ? $"metadata '{key}' removed" : $"metadata '{key}' = '{value}'");
                })),
            (2, Gen.Select(Gen.OneOf(0, 8, 12, 16, 24, 5040, 5048, 5052), Gen.OneOf(Mutations.AbsurdIntegers), Gen.OneOf(1, 4, 8))
                .Select((offset, value, width) =>
                {
                    // libtorch's CPU generator state: seed (8 bytes), left (int), seeded (int), next (8 bytes), 624 x 8 state words, ...
                    var tensors = savedTensors.Select(t => t.Name == "rng.cpu" ? Overwrite(t, offset, width, value) : t).ToList();
                    return new FuzzCase([new FuzzFile(FileName, Image(tensors, savedMetadata))], FileName, $"rng.cpu bytes [{offset}, +{width}) = {value}");
                })),
            (2, Gen.Select(Gen.Int[0, 1000], Gen.OneOf(Enum.GetValues<TensorDType>()), Gen.Int[0, 2])
                .Select((index, dtype, how) =>
                {
                    // A tensor of another dtype or shape (same name): the checkpoint is valid safetensors but does not fit.
                    TensorData victim = savedTensors[index % savedTensors.Count];
                    TensorData replacement = how switch
                    {
                        0 => Retype(victim, dtype),
                        1 => new TensorData(victim.Name, victim.DType, [victim.ElementCount], victim.Data),
                        _ => new TensorData(victim.Name, victim.DType, [0], []),
                    };
                    var tensors = savedTensors.Select(t => t == victim ? replacement : t).ToList();
                    return new FuzzCase([new FuzzFile(FileName, Image(tensors, savedMetadata))], FileName, $"tensor '{victim.Name}' -> {replacement}");
                })));
    }

    public override string Name => "checkpoint";

    public override Type DocumentedException => typeof(FileFormatException);

    public override Gen<FuzzCase> Cases { get; }

    public override (object Value, long Bytes) Read(string directory)
    {
        int iteration = Checkpoint.Load(Path.Combine(directory, FileName), metadata, network, optimizer, Seed);
        var state = new List<TensorData>();
        state.AddRange(SegmentationModel.ExportTensors(network).Select(t => new TensorData("model." + t.Name, t.DType, t.Shape, t.Data)));
        foreach (var (key, value) in optimizer.StateDict())
        {
            using (value)
            {
                state.Add(value.dtype == ScalarType.Int64
                    ? TensorData.FromInt64s("optim." + key, value.shape, value.data<long>().ToArray())
                    : TensorData.FromFloats("optim." + key, value.shape, value.data<float>().ToArray()));
            }
        }

        using (Tensor rng = get_rng_state())
        {
            state.Add(new TensorData("rng.cpu", TensorDType.U8, rng.shape, rng.data<byte>().ToArray()));
        }

        return (Fingerprint(iteration, state), 0);
    }

    public override void Dispose()
    {
        optimizer.Dispose();
        network.Dispose();
    }

    private static byte[] Image(IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string> map) => SafetensorsFile.ToBytes(tensors, map);

    private static string Fingerprint(int iteration, IEnumerable<TensorData> state) =>
        iteration.ToString(CultureInfo.InvariantCulture) + "\n" + SafetensorsCases.Fingerprint(state, new Dictionary<string, string>());

    private static TensorData Overwrite(TensorData t, int offset, int width, ulong value)
    {
        byte[] data = (byte[])t.Data.Clone();
        if (offset + width <= data.Length)
        {
            Span<byte> field = data.AsSpan(offset, width);
            switch (width)
            {
                case 1: field[0] = (byte)value; break;
                case 4: BinaryPrimitives.WriteUInt32LittleEndian(field, (uint)value); break;
                default: BinaryPrimitives.WriteUInt64LittleEndian(field, value); break;
            }
        }

        return new TensorData(t.Name, t.DType, t.Shape, data);
    }

    private static TensorData Retype(TensorData t, TensorDType dtype)
    {
        long bytes = t.Data.LongLength;
        int size = dtype.ElementSize();
        long count = bytes / size;
        return new TensorData(t.Name, dtype, [count], t.Data[..(int)(count * size)]);
    }

    /// <summary>A one-convolution backbone (3 -> 4 channels, stride 8): the checkpoint's layout without SmallCnn's megabytes.</summary>
    private sealed class TinyBackbone : Backbone
    {
        private readonly TorchSharp.Modules.Conv2d conv;

        public TinyBackbone()
            : base(nameof(TinyBackbone))
        {
            conv = nn.Conv2d(3, 4, 3, stride: 8, padding: 1);
            RegisterComponents();
        }

        public override BackboneKind Kind => BackboneKind.SmallCnn;

        public override long OutputChannels => 4;

        public override InputNormalization Normalization => InputNormalization.ImageNet;

        public override Tensor forward(Tensor input) => conv.forward(input);
    }
}
