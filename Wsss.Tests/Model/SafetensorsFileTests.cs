using System.Buffers.Binary;
using System.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Model.Serialization;

namespace Wsss.Tests.Model;

[TestClass]
public sealed class SafetensorsFileTests
{
    private string _dir = "";

    [TestInitialize]
    public void Setup() => _dir = TestFiles.NewTempDirectory();

    [TestCleanup]
    public void Cleanup() => TestFiles.DeleteDirectory(_dir);

    /// <summary>The file image the format defines: u64 LE header length, header JSON, data buffer.</summary>
    private static byte[] Image(string headerJson, byte[] payload, ulong? lengthField = null)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        var image = new byte[8 + header.Length + payload.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(image, lengthField ?? (ulong)header.Length);
        header.CopyTo(image, 8);
        payload.CopyTo(image, 8 + header.Length);
        return image;
    }

    private static string PadTo8(string json) => json + new string(' ', (8 - (Encoding.UTF8.GetByteCount(json) % 8)) % 8);

    private static byte[] Le(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    private string WriteRaw(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [TestMethod]
    public void Writer_MatchesHandBuiltImage_SingleTensor()
    {
        // 65 bytes of JSON: the writer must pad with 7 spaces to 72.
        string json = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}";
        Assert.AreEqual(65, json.Length);
        byte[] expected = Image(PadTo8(json), Le(0, 1, 2, 3, 4, 5));
        Assert.AreEqual(72UL, BinaryPrimitives.ReadUInt64LittleEndian(expected));

        byte[] actual = SafetensorsFile.ToBytes([TensorData.FromFloats("attn0", [1, 1, 2, 3], [0f, 1, 2, 3, 4, 5])]);

        CollectionAssert.AreEqual(expected, actual);
        TensorData back = SafetensorsFile.Read(actual)["attn0"];
        CollectionAssert.AreEqual(new long[] { 1, 1, 2, 3 }, back.Shape);
        CollectionAssert.AreEqual(new float[] { 0, 1, 2, 3, 4, 5 }, back.AsFloatArray());
    }

    [TestMethod]
    public void Writer_MatchesHandBuiltImage_OrderingAndMetadata()
    {
        // Order: larger alignment first (I64 before F32 before U8), then by name; metadata first, keys sorted.
        string json = "{\"__metadata__\":{\"a key\":\"x\\\"y\",\"format\":\"pt\"},"
            + "\"z\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
            + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[16,20]},"
            + "\"m\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[20,23]}}";
        byte[] payload = BitConverter.GetBytes(7L).Concat(Le(1.5f, -2f)).Concat(Le(9f)).Concat(new byte[] { 1, 2, 3 }).ToArray();
        byte[] expected = Image(PadTo8(json), payload);

        var tensors = new[]
        {
            new TensorData("m", TensorDType.U8, [3], [1, 2, 3]),
            TensorData.FromFloats("b", [], [9f]),
            TensorData.FromFloats("a", [2], [1.5f, -2f]),
            TensorData.FromInt64s("z", [1], [7L]),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["a key"] = "x\"y" };
        byte[] actual = SafetensorsFile.ToBytes(tensors, metadata);

        Assert.AreEqual(Encoding.UTF8.GetString(expected, 8, expected.Length - 8 - payload.Length),
            Encoding.UTF8.GetString(actual, 8, actual.Length - 8 - payload.Length));
        CollectionAssert.AreEqual(expected, actual);
        Assert.AreEqual(0, (actual.Length - payload.Length) % 8, "data buffer must start 8-byte aligned");

        SafetensorsContent back = SafetensorsFile.Read(expected, "hand-built");
        CollectionAssert.AreEqual(new[] { "z", "a", "b", "m" }, back.Tensors.Select(t => t.Name).ToArray());
        Assert.AreEqual("x\"y", back.Metadata["a key"]);
        Assert.AreEqual(7L, back["z"].AsInt64Array()[0]);
        Assert.AreEqual(9f, back["b"].AsFloatArray()[0]);
        Assert.AreEqual(0, back["b"].Shape.Length);
    }

    [TestMethod]
    public void Writer_MatchesHandBuiltImage_NoTensors()
    {
        CollectionAssert.AreEqual(Image("{}      ", []), SafetensorsFile.ToBytes([]));
        string json = "{\"__metadata__\":{\"framework\":\"pt\"}}";
        byte[] expected = Image(PadTo8(json), []);
        Assert.HasCount(8 + 40, expected);
        CollectionAssert.AreEqual(expected, SafetensorsFile.ToBytes([], new Dictionary<string, string> { ["framework"] = "pt" }));
        Assert.AreEqual("pt", SafetensorsFile.Read(expected).Metadata["framework"]);
    }

    [TestMethod]
    public void Reader_AcceptsAnyKeyOrderAndUnpaddedHeader()
    {
        // Other writers may order entries differently; only the offsets define the layout.
        string json = "{\"b\":{\"shape\":[1],\"data_offsets\":[4,8],\"dtype\":\"I32\"},\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        byte[] payload = BitConverter.GetBytes(11).Concat(BitConverter.GetBytes(22)).ToArray();
        SafetensorsContent content = SafetensorsFile.Read(Image(json, payload));
        Assert.AreEqual(11, content["a"].AsInt32Array()[0]);
        Assert.AreEqual(22, content["b"].AsInt32Array()[0]);
        Assert.AreEqual(0, content.Metadata.Count);
    }

    [TestMethod]
    public void RoundTrip_AllDtypesThroughFileStreamAndBytes()
    {
        var tensors = new List<TensorData>
        {
            TensorData.FromFloats("f32", [2, 3], [1f, -2.5f, float.MaxValue, float.Epsilon, 0f, -0f]),
            TensorData.FromDoubles("f64", [2], [Math.PI, -1e300]),
            TensorData.FromInt64s("i64", [3], [long.MinValue, 0, long.MaxValue]),
            TensorData.FromInt32s("i32", [2, 1], [int.MinValue, 123456]),
            TensorData.FromBools("bool", [4], [true, false, false, true]),
            new("u8", TensorDType.U8, [2], [0, 255]),
            new("i8", TensorDType.I8, [2], [0x80, 0x7F]),
            new("i16", TensorDType.I16, [1], BitConverter.GetBytes((short)-300)),
            new("f16", TensorDType.F16, [2], BitConverter.GetBytes(BitConverter.HalfToUInt16Bits((Half)1.5f)).Concat(BitConverter.GetBytes(BitConverter.HalfToUInt16Bits((Half)(-0.25f)))).ToArray()),
            new("bf16", TensorDType.BF16, [1], BitConverter.GetBytes((ushort)(BitConverter.SingleToUInt32Bits(-3.0f) >> 16))),
            TensorData.FromFloats("empty", [0, 3], []),
            TensorData.FromFloats("näme \"quoted\"\n", [1], [42f]),
        };
        var metadata = new Dictionary<string, string> { ["k"] = "v", ["ünïcode"] = "日本語", ["empty"] = "" };

        string path = Path.Combine(_dir, "all.safetensors");
        SafetensorsFile.Write(path, tensors, metadata);
        byte[] bytes = SafetensorsFile.ToBytes(tensors, metadata);
        CollectionAssert.AreEqual(bytes, File.ReadAllBytes(path), "file and in-memory images must be identical");

        var fromFile = SafetensorsFile.Read(path);
        var fromBytes = SafetensorsFile.Read(bytes);
        using var nonSeekable = new NonSeekableStream(bytes);
        var fromStream = SafetensorsFile.Read(nonSeekable, "pipe");
        foreach (SafetensorsContent content in new[] { fromFile, fromBytes, fromStream })
        {
            Assert.AreEqual(tensors.Count, content.Tensors.Count);
            foreach (TensorData original in tensors)
            {
                TensorData back = content[original.Name];
                Assert.AreEqual(original.DType, back.DType, original.Name);
                CollectionAssert.AreEqual(original.Shape, back.Shape, original.Name);
                CollectionAssert.AreEqual(original.Data, back.Data, original.Name);
            }

            CollectionAssert.AreEquivalent(metadata.ToList(), content.Metadata.ToList());
        }

        CollectionAssert.AreEqual(new[] { Math.PI, -1e300 }, fromFile["f64"].AsDoubleArray());
        CollectionAssert.AreEqual(new[] { long.MinValue, 0, long.MaxValue }, fromFile["i64"].AsInt64Array());
        CollectionAssert.AreEqual(new[] { int.MinValue, 123456 }, fromFile["i32"].AsInt32Array());
        CollectionAssert.AreEqual(new[] { true, false, false, true }, fromFile["bool"].AsBoolArray());
        CollectionAssert.AreEqual(new[] { -128, 127 }, fromFile["i8"].AsInt32Array());
        CollectionAssert.AreEqual(new[] { -300 }, fromFile["i16"].AsInt32Array());
        CollectionAssert.AreEqual(new[] { 1.5f, -0.25f }, fromFile["f16"].AsFloatArray());
        CollectionAssert.AreEqual(new[] { -3.0f }, fromFile["bf16"].AsFloatArray());
        Assert.AreEqual(0, fromFile["empty"].AsFloatArray().Length);
        Assert.ThrowsExactly<InvalidOperationException>(() => fromFile["i32"].AsFloatArray());
        Assert.IsEmpty(Directory.GetFiles(_dir, "*.tmp"), "atomic write must not leave temporary files");
    }

    [TestMethod]
    public void ReadHeader_GivesLayoutWithoutData()
    {
        string path = Path.Combine(_dir, "h.safetensors");
        SafetensorsFile.Write(path, [TensorData.FromFloats("w", [2, 2], [1f, 2, 3, 4]), TensorData.FromInt64s("n", [1], [5L])],
            new Dictionary<string, string> { ["m"] = "1" });
        SafetensorsHeader header = SafetensorsFile.ReadHeader(path);
        Assert.AreEqual("n", header.Tensors[0].Name);
        Assert.AreEqual(8L, header.Tensors[1].Begin);
        Assert.AreEqual(24L, header.Tensors[1].End);
        Assert.AreEqual("1", header.Metadata["m"]);
        Assert.AreEqual(new FileInfo(path).Length, 8 + header.HeaderLength + 24);
    }

    [TestMethod]
    public void Write_OverwritesAtomicallyAndRejectsBadInputWithoutTouchingTarget()
    {
        string path = Path.Combine(_dir, "m.safetensors");
        SafetensorsFile.Write(path, [TensorData.FromFloats("a", [1], [1f])]);
        SafetensorsFile.Write(path, [TensorData.FromFloats("a", [1], [2f])]);
        Assert.AreEqual(2f, SafetensorsFile.Read(path)["a"].AsFloatArray()[0]);

        var ex = Assert.ThrowsExactly<ArgumentException>(() =>
            SafetensorsFile.Write(path, [TensorData.FromFloats("a", [1], [3f]), TensorData.FromFloats("a", [1], [4f])]));
        StringAssert.Contains(ex.Message, "'a'");
        Assert.ThrowsExactly<ArgumentException>(() => SafetensorsFile.Write(path, [TensorData.FromFloats("__metadata__", [1], [3f])]));
        Assert.AreEqual(2f, SafetensorsFile.Read(path)["a"].AsFloatArray()[0]);
        Assert.HasCount(1, Directory.GetFiles(_dir));
    }

    [TestMethod]
    public void TensorData_RejectsByteCountNotMatchingShape()
    {
        var ex = Assert.ThrowsExactly<ArgumentException>(() => new TensorData("w", TensorDType.F32, [2, 2], new byte[15]));
        StringAssert.Contains(ex.Message, "16");
        Assert.ThrowsExactly<ArgumentException>(() => new TensorData("w", TensorDType.F32, [-1], []));
    }

    private const string Ok4 = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";

    public static IEnumerable<object[]> MalformedCases() =>
    [
        // name, header JSON, payload length, expected fragment of the message, entry named (or null)
        ["size-mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8", "w"],
        ["overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap tensor 'a'", "b"],
        ["hole", "{\"a\":" + Ok4 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "hole", "b"],
        ["not-from-zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole", "a"],
        ["trailing-bytes", "{\"a\":" + Ok4 + "}", 6, "2 trailing bytes", null!],
        ["out-of-range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "out of range", "a"],
        ["end-before-begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, "end is before begin", "a"],
        ["unknown-dtype", "{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype \"F31\"", "a"],
        ["lowercase-dtype", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype", "a"],
        ["invalid-json", "{\"a\":{\"dtype\":\"F32\",", 4, "not valid UTF-8 JSON", null!],
        ["not-object", "[1,2]", 0, "must be a JSON object", null!],
        ["duplicate-name", "{\"a\":" + Ok4 + ",\"a\":" + Ok4 + "}", 4, "more than once", "a"],
        ["metadata-number", "{\"__metadata__\":{\"epochs\":3},\"a\":" + Ok4 + "}", 4, "'epochs' must be a string", "__metadata__"],
        ["metadata-not-object", "{\"__metadata__\":[\"x\"],\"a\":" + Ok4 + "}", 4, "must be an object", "__metadata__"],
        ["negative-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative integers", "a"],
        ["fractional-offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 4, "non-negative integers", "a"],
        ["one-offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, "2 numbers", "a"],
        ["duplicate-field", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" appears more than once", "a"],
        ["missing-shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "\"shape\"", "a"],
        ["overflowing-shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", 4, "overflows", "a"],
    ];

    [TestMethod]
    [DynamicData(nameof(MalformedCases))]
    public void Read_MalformedHeader_ThrowsNamingFileAndTensor(string name, string json, int payloadLength, string fragment, string? entry)
    {
        string path = WriteRaw(name + ".safetensors", Image(json, new byte[payloadLength]));
        var ex = Assert.ThrowsExactly<FileFormatException>(() => SafetensorsFile.Read(path));
        StringAssert.Contains(ex.Message, fragment);
        StringAssert.Contains(ex.Message, path);
        Assert.AreEqual(path, ex.FilePath);
        Assert.AreEqual(entry, ex.EntryName);
        if (entry is not null)
        {
            StringAssert.Contains(ex.Message, $"'{entry}'");
        }
    }

    [TestMethod]
    public void Read_ShorterThanLengthField_IsTruncated()
    {
        string path = WriteRaw("tiny.safetensors", [1, 2, 3]);
        var ex = Assert.ThrowsExactly<FileFormatException>(() => SafetensorsFile.Read(path));
        StringAssert.Contains(ex.Message, "truncated");
        StringAssert.Contains(ex.Message, path);
    }

    [TestMethod]
    public void Read_HeaderLengthBeyondFile_Throws()
    {
        string path = WriteRaw("long.safetensors", Image("{}", [], lengthField: 1000));
        var ex = Assert.ThrowsExactly<FileFormatException>(() => SafetensorsFile.Read(path));
        StringAssert.Contains(ex.Message, "header length 1000 is beyond the file size");

        path = WriteRaw("huge.safetensors", Image("{}", [], lengthField: ulong.MaxValue));
        ex = Assert.ThrowsExactly<FileFormatException>(() => SafetensorsFile.Read(path));
        StringAssert.Contains(ex.Message, "exceeds");
    }

    [TestMethod]
    public void Read_TruncatedValidFile_ThrowsNamingTheCutTensor()
    {
        byte[] full = SafetensorsFile.ToBytes([TensorData.FromFloats("a", [4], [1f, 2, 3, 4]), TensorData.FromFloats("b", [4], [5f, 6, 7, 8])]);
        string path = WriteRaw("cut.safetensors", full[..^5]);
        var ex = Assert.ThrowsExactly<FileFormatException>(() => SafetensorsFile.Read(path));
        StringAssert.Contains(ex.Message, "out of range or file truncated");
        Assert.AreEqual("b", ex.EntryName);
    }

    [TestMethod]
    public void Read_NotSafetensors_Throws()
    {
        string path = WriteRaw("text.safetensors", Encoding.UTF8.GetBytes("hello, this is a plain text file and not a tensor file"));
        var ex = Assert.ThrowsExactly<FileFormatException>(() => SafetensorsFile.Read(path));
        StringAssert.Contains(ex.Message, "not a safetensors file");
    }

    [TestMethod]
    public void Read_InvalidUtf8InHeader_Throws()
    {
        byte[] image = Image("{\"a\":" + Ok4 + "}", new byte[4]);
        image[10] = 0xFF; // inside the tensor name
        var ex = Assert.ThrowsExactly<FileFormatException>(() => SafetensorsFile.Read(image, "bytes"));
        StringAssert.Contains(ex.Message, "not valid UTF-8 JSON");
        StringAssert.Contains(ex.Message, "'bytes'");
    }

    private sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
