using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Data;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Model.Serialization;
using Wsss.Samples.Bench.Fuzz;
using Wsss.Training;

namespace Wsss.Tests.Reliability;

/// <summary>
/// One test per crash the reader fuzz (or its review) found, on the smallest file that showed it: each once threw an
/// undocumented exception, aborted the process, pulled in another file, or allocated far beyond the file's size.
/// </summary>
[TestClass]
public sealed class ReaderRegressionTests
{
    private string dir = null!;

    [TestInitialize]
    public void Setup() => dir = Wsss.Tests.Model.TestFiles.NewTempDirectory();

    [TestCleanup]
    public void Cleanup() => Wsss.Tests.Model.TestFiles.DeleteDirectory(dir);

    private static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    // ------------------------------------------------------------------ TF.js model.json

    private const string Topology = "\"modelTopology\":{\"model_config\":{\"config\":{\"layers\":[{\"class_name\":\"InputLayer\",\"name\":\"in\"}]}}}";

    private string WriteTfjs(byte[] json, params (string Name, byte[] Bytes)[] shards)
    {
        string path = Path.Combine(dir, "model.json");
        File.WriteAllBytes(path, json);
        foreach (var (name, bytes) in shards)
        {
            File.WriteAllBytes(Path.Combine(dir, name), bytes);
        }

        return path;
    }

    private string WriteTfjs(string manifest, params (string Name, byte[] Bytes)[] shards) =>
        WriteTfjs(Encoding.UTF8.GetBytes($"{{{Topology},\"weightsManifest\":{manifest}}}"), shards);

    [TestMethod]
    public void Tfjs_InvalidUtf8InAString_IsAFormatError()
    {
        // JsonDocument parses it; GetString() then threw InvalidOperationException ("Cannot transcode invalid UTF-8").
        byte[] json = [.. "{\"modelTopology\":{\"model_config\":{\"config\":{\"layers\":[{\"class_name\":\""u8, 0xC3, 0x28, .. "\",\"name\":\"x\"}]}}},\"weightsManifest\":[]}"u8];
        string path = WriteTfjs(json);
        var e = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "UTF-8");
    }

    [TestMethod]
    public void Tfjs_NulInAShardPath_IsAFormatError()
    {
        // Path.GetFullPath threw ArgumentException ("Null character in path").
        string path = WriteTfjs("[{\"paths\":[\"a\\u0000b\"],\"weights\":[]}]");
        var e = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "NUL");
    }

    [TestMethod]
    public void Tfjs_HugeShardPath_GivesAShortError()
    {
        // A 1 MB path was quoted twice in the message (and copied on the way): 28 bytes allocated per byte of file.
        string path = WriteTfjs($"[{{\"paths\":[\"{new string('a', 1_000_000)}\"],\"weights\":[]}}]");
        FileFormatException? e = null;
        long allocated = Allocated(() => e = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(path)));
        StringAssert.Contains(e!.Message, path);
        Assert.IsTrue(e.Message.Length < 1000, $"message of {e.Message.Length} characters");
        Assert.IsTrue(allocated < 8_000_000, $"{allocated:N0} bytes allocated for a 1 MB file");
    }

    [TestMethod]
    public void Tfjs_GroupWhoseSizesOverflowTogether_IsAFormatError()
    {
        // Each weight's 2^62 bytes fit a long, their sum does not: Enumerable.Sum threw OverflowException.
        const string Big = "{\"name\":\"NAME\",\"shape\":[1152921504606846976],\"dtype\":\"float32\"}";
        string path = WriteTfjs($"[{{\"paths\":[\"g\"],\"weights\":[{Big.Replace("NAME", "a", StringComparison.Ordinal)},{Big.Replace("NAME", "b", StringComparison.Ordinal)}]}}]", ("g", [0]));
        var e = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(path));
        StringAssert.Contains(e.Message, path);
    }

    // ------------------------------------------------------------------ palette PNG masks

    private static byte[] WithIhdrSize(byte[] png, uint width, uint height)
    {
        var chunks = PngMaskTarget.Chunks(png);
        var ihdr = (byte[])chunks[0].Data.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        chunks[0] = ("IHDR", ihdr);
        return PngMaskTarget.Assemble(chunks);
    }

    [TestMethod]
    public void PaletteMask_HugeIhdrOverTinyData_IsRejectedWithoutItsBuffer()
    {
        // A CRC-correct IHDR claiming 40000 x 40000 made the decoder allocate 1.6 GB before finding 30 bytes of data.
        string path = Path.Combine(dir, "mask.png");
        File.WriteAllBytes(path, WithIhdrSize(PalettePng.Encode(2, 2, [0, 1, 2, 3]), 40_000, 40_000));
        ImageFormatException? e = null;
        long allocated = Allocated(() => e = Assert.ThrowsExactly<ImageFormatException>(() => PalettePng.Decode(path)));
        StringAssert.Contains(e!.Message, path);
        Assert.IsTrue(allocated < 1_000_000, $"{allocated:N0} bytes allocated");
    }

    [TestMethod]
    public void PaletteMask_EveryZlibErrorIsAFormatError()
    {
        // Some damaged streams make zlib return codes that .NET raises as ZLibException (an IOException), which
        // escaped the decoder's InvalidDataException handler. Search damaged IDATs until one does, then decode it.
        byte[] png = PalettePng.Encode(8, 8, Enumerable.Range(0, 64).Select(i => (byte)(i % 5)).ToArray());
        var random = new Random(1);
        int zlibExceptions = 0;
        for (int attempt = 0; attempt < 20_000 && zlibExceptions < 3; attempt++)
        {
            var chunks = PngMaskTarget.Chunks(png);
            int idat = chunks.FindIndex(c => c.Type == "IDAT");
            byte[] data = (byte[])chunks[idat].Data.Clone();
            data[random.Next(data.Length)] ^= (byte)(1 + random.Next(255));
            try
            {
                using var z = new ZLibStream(new MemoryStream(data), CompressionMode.Decompress);
                z.CopyTo(Stream.Null);
                continue;
            }
            catch (InvalidDataException)
            {
                continue;
            }
            catch (IOException)
            {
                zlibExceptions++;
            }

            chunks[idat] = ("IDAT", data);
            var e = Assert.ThrowsExactly<ImageFormatException>(() => PalettePng.Decode(PngMaskTarget.Assemble(chunks), "damaged.png"));
            StringAssert.Contains(e.Message, "damaged.png");
        }

        Assert.IsTrue(zlibExceptions > 0, "no damaged stream made zlib raise an IOException: the test no longer covers the case");
    }

    // ------------------------------------------------------------------ image decoding

    [TestMethod]
    public void ImageCodec_HeaderClaimingAHugeImage_AllocatesNoBufferOfThatSize()
    {
        // A BMP header claiming 8000 x 8000 over 48 bytes of pixels: the 256 MB RGBA buffer was a managed array.
        var image = new RgbImage(4, 4);
        byte[] bmp = new byte[54 + 48];
        bmp[0] = (byte)'B';
        bmp[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), 8000);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), 8000);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        string path = Path.Combine(dir, "huge.bmp");
        File.WriteAllBytes(path, bmp);
        ImageFormatException? e = null;
        long allocated = Allocated(() => e = Assert.ThrowsExactly<ImageFormatException>(() => ImageCodec.Decode(path)));
        StringAssert.Contains(e!.Message, path);
        Assert.IsTrue(allocated < 4_000_000, $"{allocated:N0} bytes allocated");

        // A valid file still decodes through the same buffer.
        bmp = Wsss.Tests.Imaging.TestImages.Bmp24(image);
        Assert.AreEqual(4, ImageCodec.Decode(bmp).Height);
    }

    // ------------------------------------------------------------------ datasets

    private string WriteVoc(string annotation, string? list = null)
    {
        Directory.CreateDirectory(Path.Combine(dir, "JPEGImages"));
        Directory.CreateDirectory(Path.Combine(dir, "Annotations"));
        Directory.CreateDirectory(Path.Combine(dir, "ImageSets", "Segmentation"));
        File.WriteAllBytes(Path.Combine(dir, "JPEGImages", "a.jpg"), PalettePng.Encode(2, 2, new byte[4]));
        File.WriteAllText(Path.Combine(dir, "Annotations", "a.xml"), annotation);
        File.WriteAllText(Path.Combine(dir, "ImageSets", "Segmentation", "train.txt"), list ?? "a\n");
        return Path.Combine(dir, "Annotations", "a.xml");
    }

    [TestMethod]
    public void Voc_EntityExpansionInAnAnnotation_IsRefused()
    {
        // 300 bytes of nested entities expanded to 10 million characters (112 MB allocated) before XDocument stopped.
        string entities = string.Concat(Enumerable.Range(1, 9).Select(i => $"<!ENTITY lol{i} \"{string.Concat(Enumerable.Repeat($"&lol{(i == 1 ? "" : (i - 1).ToString(System.Globalization.CultureInfo.InvariantCulture))};", 10))}\">"));
        string xml = WriteVoc($"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">{entities}]><annotation><object><name>&lol9;</name></object></annotation>");
        DatasetException? e = null;
        long allocated = Allocated(() => e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadVoc(dir)));
        StringAssert.Contains(e!.Message, xml);
        Assert.IsTrue(allocated < 4_000_000, $"{allocated:N0} bytes allocated");
    }

    [TestMethod]
    public void Voc_ExternalEntityInAnAnnotation_IsNotResolved()
    {
        // Not a crash found (.NET's readers resolve no external entity by default) but the guard of the same fix: the
        // annotation reader now refuses DTDs outright, so another file's content can never become a class name.
        string secret = Path.Combine(dir, "secret.txt");
        File.WriteAllText(secret, "SECRET-7f3a");
        string xml = WriteVoc($"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file://{secret}\">]><annotation><object><name>&x;</name></object></annotation>");
        var e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadVoc(dir));
        StringAssert.Contains(e.Message, xml);
        Assert.IsFalse(e.Message.Contains("SECRET", StringComparison.Ordinal), e.Message);
    }

    [TestMethod]
    public void Voc_SplitLineLongerThanAnyFileName_GivesAShortError()
    {
        // The 1 MB "id" went into several messages and paths: 45 bytes allocated per byte of the list.
        WriteVoc("<annotation><object><name>cat</name></object></annotation>", "a\n" + new string('x', 1_000_000) + "\n");
        DatasetException? e = null;
        long allocated = Allocated(() => e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadVoc(dir)));
        StringAssert.Contains(e!.Message, Path.Combine(dir, "ImageSets", "Segmentation", "train.txt") + ":2");
        Assert.IsTrue(e.Message.Length < 1000, $"message of {e.Message.Length} characters");
        Assert.IsTrue(allocated < 16_000_000, $"{allocated:N0} bytes allocated");
    }

    private string WriteFolder(string csv)
    {
        Directory.CreateDirectory(Path.Combine(dir, "images"));
        File.WriteAllBytes(Path.Combine(dir, "images", "a.png"), PalettePng.Encode(2, 2, new byte[4]));
        string path = Path.Combine(dir, "labels.csv");
        File.WriteAllText(path, csv);
        return path;
    }

    [TestMethod]
    public void LabelsCsv_MoreThan254InferredClasses_IsADatasetProblem()
    {
        // The inferred class list went to the class index, which threw ArgumentException (parameter 'classNames').
        string csv = WriteFolder("a.png," + string.Join(' ', Enumerable.Range(0, 300).Select(i => $"c{i}")) + "\n");
        var e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadFolder(Path.Combine(dir, "images"), csv));
        StringAssert.Contains(e.Message, csv);
        StringAssert.Contains(e.Message, "300");
    }

    [TestMethod]
    public void LabelsCsv_NoBreakSpaceAndQuotedCommaSeparateNames()
    {
        // "cat\u00A0dog" and "\"bird,fish\"" were single inferred names holding a separator: ArgumentException.
        string csv = WriteFolder("a.png,cat\u00A0dog x\na2.png,\"bird,fish\"\n");
        File.WriteAllBytes(Path.Combine(dir, "images", "a2.png"), PalettePng.Encode(2, 2, new byte[4]));
        var data = ImageDataset.LoadFolder(Path.Combine(dir, "images"), csv);
        CollectionAssert.AreEqual(new[] { "bird", "cat", "dog", "fish", "x" }, data.ClassNames.ToArray());
        CollectionAssert.AreEqual(new[] { "cat", "dog", "x" }, data[0].LabelNames);
        CollectionAssert.AreEqual(new[] { "bird", "fish" }, data[1].LabelNames);
    }

    // ------------------------------------------------------------------ model files

    private string SaveModel(Action<Dictionary<string, string>> editMetadata)
    {
        string path = Path.Combine(dir, "model.safetensors");
        using (var model = new SegmentationModel(new RrmNetwork(new SmallCnn(), 2), new ModelFileMetadata
        {
            Backbone = BackboneKind.SmallCnn,
            ClassNames = ["a", "b"],
            Normalization = InputNormalization.ImageNet,
        }, Wsss.Engine.Devices.Cpu))
        {
            model.Save(path);
        }

        var content = SafetensorsFile.Read(path);
        var metadata = new Dictionary<string, string>(content.Metadata, StringComparer.Ordinal);
        editMetadata(metadata);
        SafetensorsFile.Write(path, content.Tensors, metadata);
        return path;
    }

    [TestMethod]
    public void ModelLoad_WidthTheBackboneDoesNotTake_IsAFormatError()
    {
        // Backbones.Create threw ArgumentException ("SmallCnn has no width multiplier") out of SegmentationModel.Load.
        string path = SaveModel(m => m["backbone_width"] = "2");
        var e = Assert.ThrowsExactly<FileFormatException>(() => SegmentationModel.Load(path));
        StringAssert.Contains(e.Message, path);
    }

    [TestMethod]
    public void ModelLoad_MetadataClaimingAHugeNetwork_IsRejectedBeforeBuildingIt()
    {
        // MobileNetV1 at width 1000 was built (a billion parameters per layer) before the small file's weights were compared.
        string path = SaveModel(m =>
        {
            m["backbone"] = "MobileNetV1";
            m["backbone_width"] = "1000";
        });
        var e = Assert.ThrowsExactly<FileFormatException>(() => SegmentationModel.Load(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "conv_pw_13");

        path = SaveModel(m => m["class_names"] = "[" + string.Join(",", Enumerable.Range(0, 5000).Select(i => $"\"c{i}\"")) + "]");
        e = Assert.ThrowsExactly<FileFormatException>(() => SegmentationModel.Load(path));
        StringAssert.Contains(e.Message, "classifier.weight");
    }

    [TestMethod]
    public void ModelLoad_ResNet18BlockCountsFromTensorNamesWithoutTheirWeights_AreRejectedBeforeBuilding()
    {
        // The ResNet-18 layout (ML.NET's extra layer4 block) is read from the tensor names: one tiny tensor named
        // "backbone.layer4.49.x" would have built 50 blocks of 4.7 M parameters each before the weights were compared.
        string path = SaveModel(m => m["backbone"] = "ResNet18");
        var content = SafetensorsFile.Read(path);
        var names = new[] { "backbone.layer1.0.x", "backbone.layer2.0.x", "backbone.layer3.0.x", "backbone.layer4.49.x" };
        var tensors = content.Tensors.Concat(names.Select(n => new TensorData(n, TensorDType.F32, [1], new byte[4]))).ToArray();
        SafetensorsFile.Write(path, tensors, content.Metadata);
        var e = Assert.ThrowsExactly<FileFormatException>(() => SegmentationModel.Load(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "backbone.layer1.0.conv2.weight");
    }
}

/// <summary>Checkpoint crashes; apart from the rest because training sets libtorch's process-wide generator.</summary>
[TestClass]
[DoNotParallelize]
public sealed class CheckpointRegressionTests
{
    private static readonly SyntheticDataset Data = new(new SyntheticDatasetOptions { ImageSize = 40, ClassCount = 2, Seed = 3, MinVisiblePixels = 12 }, 8);

    private static RrmTrainingOptions Tiny(string checkpoint, int iterations) => new()
    {
        Backbone = BackboneKind.SmallCnn,
        Iterations = iterations,
        BatchSize = 2,
        CropSize = 40,
        Momentum = 0.9, // so that the checkpoint holds momentum buffers
        Threads = 1,
        Seed = 7,
        CheckpointPath = checkpoint,
        CheckpointInterval = 1,
    };

    private static void Damage(string checkpoint, Func<TensorData, TensorData> tensor, Action<Dictionary<string, string>>? metadata = null)
    {
        var content = SafetensorsFile.Read(checkpoint);
        var map = new Dictionary<string, string>(content.Metadata, StringComparer.Ordinal);
        metadata?.Invoke(map);
        SafetensorsFile.Write(checkpoint, content.Tensors.Select(tensor).ToList(), map);
    }

    private static void AssertRejected(string checkpoint, string entry)
    {
        var e = Assert.ThrowsExactly<FileFormatException>(() => new RrmTrainer(Tiny(checkpoint, 3)).Train(WeakDataset.From(Data)));
        StringAssert.Contains(e.Message, checkpoint);
        StringAssert.Contains(e.Message, entry);
    }

    [TestMethod]
    public void DamagedCheckpoints_AreFormatErrors_AndTheProcessLivesOn()
    {
        using var dir = TestData.NewTempDirectory();
        string checkpoint = dir.File("run.ckpt");
        using (new RrmTrainer(Tiny(checkpoint, 1)).Train(WeakDataset.From(Data)))
        {
        }

        byte[] original = File.ReadAllBytes(checkpoint);
        void Restore() => File.WriteAllBytes(checkpoint, original);

        // Generator fields libtorch's set_state rejects with an error that escapes TorchSharp and aborts the process:
        // 'left' (bytes 8..12) outside 1..624, 'seeded' (12..16) zero, 'next' (16..24) above 624.
        foreach (var (offset, value) in new[] { (8, 0u), (8, 625u), (12, 0u), (16, 625u) })
        {
            Damage(checkpoint, t =>
            {
                if (t.Name != "rng.cpu")
                {
                    return t;
                }

                byte[] data = (byte[])t.Data.Clone();
                BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(offset), value);
                return new TensorData(t.Name, t.DType, t.Shape, data);
            });
            AssertRejected(checkpoint, "rng.cpu");
            Restore();
        }

        // An empty step count: GroupedSgd's item() threw ArgumentException.
        Damage(checkpoint, t => t.Name == "optim.step" ? new TensorData(t.Name, TensorDType.I64, [0], []) : t);
        AssertRejected(checkpoint, "step");
        Restore();

        // Momentum stored as I32: AsFloatArray threw InvalidOperationException.
        Damage(checkpoint, t => t.Name.StartsWith("optim.group", StringComparison.Ordinal) && t.DType == TensorDType.F32 ? new TensorData(t.Name, TensorDType.I32, t.Shape, t.Data) : t);
        AssertRejected(checkpoint, "optim.group");
        Restore();

        // An iteration that is not a number: int.Parse threw FormatException / OverflowException.
        foreach (string iteration in new[] { "x", "99999999999", "-1" })
        {
            Damage(checkpoint, t => t, m => m["iteration"] = iteration);
            AssertRejected(checkpoint, "iteration");
            Restore();
        }

        // The undamaged checkpoint still resumes.
        using var resumed = new RrmTrainer(Tiny(checkpoint, 2)).Train(WeakDataset.From(Data));
        Assert.IsNotNull(resumed);
    }
}
