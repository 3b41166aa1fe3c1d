using System.Buffers.Binary;
using System.Globalization;
using Wsss.Model;
using Wsss.Model.Serialization;
using Wsss.Engine;
using static TorchSharp.torch;

namespace Wsss.Training;

/// <summary>
/// A training checkpoint: one safetensors file holding the network ("model." + state-dict keys), the
/// optimiser state ("optim." + its keys: momentum buffers and step count), libtorch's CPU generator state ("rng.cpu") and, in the metadata,
/// the model metadata plus the completed iteration and the seed. Data order and augmentation are derived
/// from (seed, iteration), so this is all a resumed run needs to continue exactly. Written atomically.
/// </summary>
internal static class Checkpoint
{
    /// <summary>The kind of an RRM (image-level labels) training checkpoint.</summary>
    public const string RrmKind = "wsss-rrm-checkpoint";

    /// <summary>The kind of a checkpoint of training on masks (<see cref="SupervisedTrainer"/>).</summary>
    public const string SupervisedKind = "wsss-supervised-checkpoint";
    private const string KindKey = "checkpoint";
    private const string IterationKey = "iteration";
    private const string SeedKey = "seed";
    private const string RngKey = "rng.cpu";

    public static void Save(string path, ModelFileMetadata metadata, RrmNetwork network, GroupedSgd optimizer, int iteration, int seed, string kind = RrmKind)
    {
        var map = metadata.ToDictionary();
        map[KindKey] = kind;
        map[IterationKey] = iteration.ToString(CultureInfo.InvariantCulture);
        map[SeedKey] = seed.ToString(CultureInfo.InvariantCulture);
        var tensors = new List<TensorData>();
        foreach (var t in Inference.SegmentationModel.ExportTensors(network))
        {
            tensors.Add(new TensorData("model." + t.Name, t.DType, t.Shape, t.Data));
        }

        foreach (var (key, value) in optimizer.StateDict())
        {
            using (value)
            using (var cpu = value.cpu().contiguous())
            {
                tensors.Add(cpu.dtype == ScalarType.Int64
                    ? TensorData.FromInt64s("optim." + key, cpu.shape, cpu.ToArrayFast<long>())
                    : TensorData.FromFloats("optim." + key, cpu.shape, cpu.to(ScalarType.Float32).ToArrayFast<float>()));
            }
        }

        using (var rng = get_rng_state())
        {
            tensors.Add(new TensorData(RngKey, TensorDType.U8, rng.shape, rng.ToArrayFast<byte>()));
        }

        SafetensorsFile.Write(path, tensors, map);
    }

    /// <summary>Restores network, optimiser and generator; returns the completed iteration.</summary>
    /// <exception cref="FileFormatException">The file is not a checkpoint of this training (other classes, backbone or seed).</exception>
    public static int Load(string path, ModelFileMetadata expected, RrmNetwork network, GroupedSgd optimizer, int seed, string kind = RrmKind)
    {
        var content = SafetensorsFile.Read(path);
        var meta = content.Metadata;
        string Get(string key) => meta.TryGetValue(key, out var v) ? v : throw new FileFormatException(path, key, "is not a Wsss training checkpoint (missing metadata key)");
        string found = Get(KindKey);
        if (found != kind)
        {
            // Both kinds hold the same tensors, so resuming one as the other would run without an error and train the wrong thing.
            throw new FileFormatException(path, KindKey, found is RrmKind or SupervisedKind
                ? $"is a checkpoint of {Describe(found)}, and this run is {Describe(kind)}; delete it or choose another checkpoint path"
                : "is not a Wsss training checkpoint");
        }

        var expectedMap = expected.ToDictionary();
        foreach (string key in new[] { ModelFileMetadata.BackboneKey, ModelFileMetadata.WidthKey, ModelFileMetadata.ClassNamesKey })
        {
            if (Get(key) != expectedMap[key])
            {
                throw new FileFormatException(path, key, $"belongs to another training ({key} is {Get(key)}, this training has {expectedMap[key]}); delete it or choose another checkpoint path");
            }
        }

        if (Get(SeedKey) != seed.ToString(CultureInfo.InvariantCulture))
        {
            throw new FileFormatException(path, SeedKey, $"was written with seed {Get(SeedKey)}, this training uses {seed}: resuming would not reproduce the run");
        }

        // int.Parse would throw FormatException or OverflowException, neither naming the file.
        if (!int.TryParse(Get(IterationKey), NumberStyles.None, CultureInfo.InvariantCulture, out int iteration))
        {
            throw new FileFormatException(path, IterationKey, $"\"{Get(IterationKey)}\" is not a completed iteration count (a whole number >= 0)");
        }

        // Checked here, before anything is restored: TorchSharp's set_rng_state does not catch libtorch's error for a
        // state of the wrong size or type, which then terminates the process instead of raising an exception.
        if (!content.TryGetTensor(RngKey, out TensorData? rng))
        {
            throw new FileFormatException(path, RngKey, "is not a Wsss training checkpoint (no generator state)");
        }

        long stateBytes;
        using (var current = get_rng_state())
        {
            stateBytes = current.numel();
        }

        if (rng.DType != TensorDType.U8 || rng.Shape.Length != 1 || rng.Shape[0] != stateBytes)
        {
            throw new FileFormatException(path, RngKey,
                $"holds {rng.DType.SafetensorsName()} ({string.Join(", ", rng.Shape)}), but libtorch's CPU generator state is {stateBytes} bytes (U8)");
        }

        if (InvalidGeneratorState(rng.Data) is { } invalid)
        {
            // libtorch checks these fields too, but its error escapes TorchSharp and aborts the process.
            throw new FileFormatException(path, RngKey, $"is not a valid mt19937 generator state: {invalid}");
        }

        var model = content.Tensors.Where(t => t.Name.StartsWith("model.", StringComparison.Ordinal))
            .Select(t => new TensorData(t.Name["model.".Length..], t.DType, t.Shape, t.Data));
        try
        {
            ModelWeights.Load(network, ModelWeights.FromTensors(model));
        }
        catch (InvalidDataException e)
        {
            throw new FileFormatException(path, null, $"its network does not fit this training: {e.Message}");
        }

        using (var scope = NewDisposeScope())
        {
            var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var t in content.Tensors.Where(t => t.Name.StartsWith("optim.", StringComparison.Ordinal)))
            {
                string key = t.Name["optim.".Length..];
                // Written as I64 (the step count) or F32 (momentum buffers); AsFloatArray would throw InvalidOperationException for others.
                state[key] = t.DType switch
                {
                    TensorDType.I64 => tensor(t.AsInt64Array(), t.Shape),
                    TensorDType.F32 => tensor(t.AsFloatArray(), t.Shape),
                    _ => throw new FileFormatException(path, t.Name, $"holds {t.DType.SafetensorsName()}; optimiser state is I64 or F32"),
                };
            }

            try
            {
                optimizer.LoadStateDict(state);
            }
            catch (InvalidDataException e)
            {
                throw new FileFormatException(path, null, $"its optimiser state does not fit this training: {e.Message}");
            }

            set_rng_state(tensor(rng.Data.ToArray(), rng.Shape, ScalarType.Byte));
        }

        return iteration;
    }

    /// <summary>
    /// What libtorch's CPUGeneratorImpl::set_state rejects in a state of the current layout (CPUGeneratorImplState:
    /// the legacy struct of seed (u64), left (i32), seeded (i32), next (u64), 624 state words (u64), normal_x/_y/_rho
    /// (f64), normal_is_valid (i32); then a float sample and its flag): mt19937's is_valid() needs seeded, 1 &lt;= left
    /// &lt;= 624 and next &lt;= 624. Null when the state passes.
    /// </summary>
    private static string? InvalidGeneratorState(ReadOnlySpan<byte> state)
    {
        const int MersenneStateN = 624;
        int left = BinaryPrimitives.ReadInt32LittleEndian(state[8..]);
        int seeded = BinaryPrimitives.ReadInt32LittleEndian(state[12..]);
        uint next = (uint)BinaryPrimitives.ReadUInt64LittleEndian(state[16..]);
        if (seeded == 0)
        {
            return "it is marked as never seeded";
        }

        if (left < 1 || left > MersenneStateN)
        {
            return $"'left' is {left}, outside 1..{MersenneStateN}";
        }

        return next > MersenneStateN ? $"'next' is {next}, above {MersenneStateN}" : null;
    }

    private static string Describe(string kind) => kind == SupervisedKind ? "training on masks" : "RRM training on image-level labels";
}
