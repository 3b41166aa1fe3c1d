using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;

namespace Wsss.Samples.Bench.Fuzz;

/// <summary>A change made to a valid file; its string form is what a failure report shows.</summary>
internal abstract record Mutation
{
    public abstract byte[] Apply(byte[] input);

    /// <summary>Index of a position given as a fraction of <paramref name="length"/> (fractions shrink towards the start).</summary>
    protected static int At(double fraction, int length) => Math.Clamp((int)(fraction * length), 0, Math.Max(0, length - 1));
}

/// <summary>The file as it was.</summary>
internal sealed record Unchanged : Mutation
{
    public override byte[] Apply(byte[] input) => input;

    public override string ToString() => "none";
}

/// <summary>The file cut at a fraction of its length.</summary>
internal sealed record Truncate(double Fraction) : Mutation
{
    public override byte[] Apply(byte[] input) => input.Length == 0 ? input : input[..Math.Min(input.Length - 1, Math.Max(0, (int)(Fraction * input.Length)))];

    public override string ToString() => $"truncate at {Fraction:F3}";
}

/// <summary>Bytes XOR-ed with non-zero masks at fractions of the length (anywhere, or within the first <paramref name="Within"/> bytes).</summary>
internal sealed record FlipBytes(double[] Positions, byte[] Masks, int Within = int.MaxValue) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        byte[] output = (byte[])input.Clone();
        int span = Math.Min(Within, output.Length);
        for (int i = 0; i < Positions.Length && span > 0; i++)
        {
            output[At(Positions[i], span)] ^= (byte)(Masks[i] | 1);
        }

        return output;
    }

    public override string ToString() => $"flip {Positions.Length} byte(s) at {string.Join(",", Positions.Select(p => p.ToString("F3", CultureInfo.InvariantCulture)))}{(Within == int.MaxValue ? "" : $" of the first {Within}")}";
}

/// <summary>An absurd integer written over the bytes at a fixed offset (header fields: sizes, counts, lengths).</summary>
internal sealed record OverwriteInteger(int Offset, int Width, bool BigEndian, ulong Value) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        byte[] output = (byte[])input.Clone();
        if (Offset + Width > output.Length)
        {
            return output;
        }

        Span<byte> field = output.AsSpan(Offset, Width);
        switch (Width)
        {
            case 2 when BigEndian: BinaryPrimitives.WriteUInt16BigEndian(field, (ushort)Value); break;
            case 2: BinaryPrimitives.WriteUInt16LittleEndian(field, (ushort)Value); break;
            case 4 when BigEndian: BinaryPrimitives.WriteUInt32BigEndian(field, (uint)Value); break;
            case 4: BinaryPrimitives.WriteUInt32LittleEndian(field, (uint)Value); break;
            case 8 when BigEndian: BinaryPrimitives.WriteUInt64BigEndian(field, Value); break;
            default: BinaryPrimitives.WriteUInt64LittleEndian(field, Value); break;
        }

        return output;
    }

    public override string ToString() => $"{Width}-byte {(BigEndian ? "BE" : "LE")} field at {Offset} = {Value} (0x{Value:X})";
}

/// <summary>Bytes inserted at a fraction of the length.</summary>
internal sealed record InsertBytes(double Fraction, byte[] Bytes) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        int at = Math.Min(input.Length, (int)(Fraction * input.Length));
        return [.. input.AsSpan(0, at), .. Bytes, .. input.AsSpan(at)];
    }

    public override string ToString() => $"insert {Bytes.Length} byte(s) at {Fraction:F3}";
}

/// <summary>Generators of mutations and of the absurd values they write.</summary>
internal static class Mutations
{
    /// <summary>Integers that break size arithmetic: zero, signed and unsigned extremes, 10^12, 2^31, 2^32.</summary>
    public static readonly ulong[] AbsurdIntegers =
    [
        0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, 1_000_000_000_000,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue, 46_341, 65_536, 100_000,
    ];

    public static Gen<double> Fraction { get; } = Gen.Double[0, 1];

    /// <summary>Byte-level damage anywhere in a file: truncation, flipped bytes, inserted garbage.</summary>
    public static Gen<Mutation> Bytes { get; } = Gen.Frequency(
        (3, Fraction.Select(f => (Mutation)new Truncate(f))),
        (4, Gen.Select(Fraction.Array[1, 8], Gen.Byte.Array[8]).Select((p, m) => (Mutation)new FlipBytes(p, m))),
        (1, Gen.Select(Fraction, Gen.Byte.Array[1, 64]).Select((f, b) => (Mutation)new InsertBytes(f, b))));

    /// <summary>Byte flips within a header of <paramref name="length"/> bytes, where most fields live.</summary>
    public static Gen<Mutation> HeaderFlips(int length) =>
        Gen.Select(Fraction.Array[1, 4], Gen.Byte.Array[4]).Select((p, m) => (Mutation)new FlipBytes(p, m, length));

    /// <summary>An absurd integer over one of the given header fields (offset, width, big-endian).</summary>
    public static Gen<Mutation> HeaderFields(params (int Offset, int Width, bool BigEndian)[] fields) =>
        Gen.Select(Gen.Int[0, fields.Length - 1], Gen.OneOf(AbsurdIntegers))
            .Select((i, v) => (Mutation)new OverwriteInteger(fields[i].Offset, fields[i].Width, fields[i].BigEndian, v));

    /// <summary>Raw JSON values written in place of a value of a JSON document: wrong types, extremes, deep and huge values.</summary>
    public static Gen<string> AbsurdJson { get; } = Gen.OneOf(
        Gen.OneOf(
            "-1", "0", "1000000000000", "-1000000000000", "4611686018427387904", "9223372036854775807", "-9223372036854775808",
            "18446744073709551616", "1e308", "1e400", "-1e400", "0.5", "-0.0", "\"x\"", "\"\"", "null", "true", "[]", "{}",
            "[1000000000000,1000000000000]", "[4611686018427387904,4]", "[-1]", "[0,1000000000000]", "[1e400]", "\"F33\"", "\"float64\"",
            "\"\\u0000\"", "\"../../../etc/passwd\"", "\"/etc/passwd\"", "\"a\\u0000b\"", "{\"dtype\":\"uint8\",\"scale\":1e400,\"min\":0}"),
        Gen.Int[1, 4].Select(k => new string('[', (int)Math.Pow(10, k)) + new string(']', (int)Math.Pow(10, k))),
        Gen.Int[1, 3].Select(k => "\"" + new string('a', (int)Math.Pow(100, k)) + "\""),
        Gen.Int[1, 3].Select(k => "[" + string.Join(",", Enumerable.Repeat("0", (int)Math.Pow(30, k))) + "]"));

    /// <summary>
    /// Damage to a JSON document (given as a node tree): one value replaced by an absurd one, removed, or
    /// followed by a second copy of its key (a duplicate key); the result is the JSON text as bytes.
    /// </summary>
    public static Gen<JsonMutation> Json { get; } = Gen.Select(Gen.Int[0, 3], Gen.Int[0, 1_000_000], AbsurdJson)
        .Select((op, index, raw) => new JsonMutation(op switch { 0 or 1 => JsonEdit.Replace, 2 => JsonEdit.Remove, _ => JsonEdit.DuplicateKey }, index, raw));
}

/// <summary>How a <see cref="JsonMutation"/> changes the chosen value.</summary>
internal enum JsonEdit
{
    Replace,
    Remove,
    DuplicateKey,
}

/// <summary>One edit of a JSON document at the value with index <paramref name="Index"/> (document order, modulo the count).</summary>
internal sealed record JsonMutation(JsonEdit Edit, int Index, string Raw)
{
    private const string Marker = "@@FUZZ-MARK@@";

    public string Apply(JsonNode document, out string path)
    {
        JsonNode root = document.DeepClone();
        var values = new List<JsonNode>();
        Collect(root, values);
        if (values.Count == 0)
        {
            path = "$";
            return Raw;
        }

        JsonNode target = values[Index % values.Count];
        path = target.GetPath();
        JsonNode? parent = target.Parent;
        string original = target.ToJsonString();
        string replacement = Edit switch
        {
            JsonEdit.Replace => Raw,
            JsonEdit.DuplicateKey when parent is JsonObject => $"{original},{JsonValue.Create(target.GetPropertyName())!.ToJsonString()}:{Raw}",
            _ => Raw,
        };
        if (Edit == JsonEdit.Remove && parent is JsonObject obj)
        {
            obj.Remove(target.GetPropertyName());
            return root.ToJsonString();
        }

        if (Edit == JsonEdit.Remove && parent is JsonArray array)
        {
            array.RemoveAt(target.GetElementIndex());
            return root.ToJsonString();
        }

        ReplaceWith(target, JsonValue.Create(Marker));
        return root.ToJsonString().Replace($"\"{Marker}\"", replacement, StringComparison.Ordinal);
    }

    public override string ToString()
    {
        string raw = Raw.Length > 40 ? $"{Raw[..20]}...({Raw.Length} chars)" : Raw;
        return $"json {Edit} #{Index} {raw}";
    }

    private static void Collect(JsonNode node, List<JsonNode> values)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, child) in o.ToList())
                {
                    if (child is not null)
                    {
                        values.Add(child);
                        Collect(child, values);
                    }
                }

                break;
            case JsonArray a:
                foreach (JsonNode? child in a.ToList())
                {
                    if (child is not null)
                    {
                        values.Add(child);
                        Collect(child, values);
                    }
                }

                break;
        }
    }

    private static void ReplaceWith(JsonNode target, JsonNode replacement)
    {
        switch (target.Parent)
        {
            case JsonObject o:
                o[target.GetPropertyName()] = replacement;
                break;
            case JsonArray a:
                a[target.GetElementIndex()] = replacement;
                break;
        }
    }
}

/// <summary>Small helpers shared by the targets.</summary>
internal static class FuzzText
{
    public static readonly UTF8Encoding Utf8 = new(false);

    /// <summary>Names with characters that have tripped readers: non-ASCII, quotes, separators, case pairs.</summary>
    public static Gen<string> Name { get; } = Gen.Frequency(
        (6, Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789_./"], 1, 12]),
        (1, Gen.OneOf("ä", "名前", "a\"b", "a\\b", "x y", "ı", "I", "K", "\u212A", "é", "e\u0301", "tab\there", "line\nbreak", "__metadata__")));
}
