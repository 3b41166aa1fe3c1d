using System.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Model;
using Wsss.Model.Serialization;

namespace Wsss.Tests.Model;

[TestClass]
public sealed class ModelFileTests
{
    private string _dir = "";

    [TestInitialize]
    public void Setup() => _dir = TestFiles.NewTempDirectory();

    [TestCleanup]
    public void Cleanup() => TestFiles.DeleteDirectory(_dir);

    private static ModelFileMetadata SampleMetadata() => new()
    {
        Backbone = BackboneKind.MobileNetV1,
        BackboneWidth = 0.75,
        ClassNames = ["aeroplane", "bicycle", "bird", "person"],
        Normalization = InputNormalization.MinusOneToOne,
        TrainingOptionsJson = "{\"iterations\":20000,\"lr\":0.0007}",
        Created = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
    };

    private static TensorData[] SampleTensors() =>
    [
        TensorData.FromFloats("backbone.conv1.weight", [2, 1, 1, 1], [0.5f, -1f]),
        TensorData.FromFloats("seg.1.bias", [5], [1f, 2, 3, 4, 5]),
        TensorData.FromInt64s("bn.num_batches_tracked", [], [3L]),
    ];

    /// <summary>Writes a safetensors file whose metadata is a valid model's, changed by <paramref name="edit"/>.</summary>
    private string WriteWithMetadata(string name, Action<Dictionary<string, string>> edit)
    {
        Dictionary<string, string> map = SampleMetadata().ToDictionary();
        edit(map);
        string path = Path.Combine(_dir, name);
        SafetensorsFile.Write(path, SampleTensors(), map);
        return path;
    }

    private static FileFormatException LoadFails(string path)
    {
        var ex = Assert.ThrowsExactly<FileFormatException>(() => ModelFile.Load(path));
        StringAssert.Contains(ex.Message, path);
        Assert.AreEqual(path, ex.FilePath);
        return ex;
    }

    [TestMethod]
    public void SaveLoad_RoundTripsMetadataAndTensors()
    {
        string path = Path.Combine(_dir, "model.safetensors");
        ModelFileMetadata metadata = SampleMetadata();
        ModelFile.Save(path, metadata, SampleTensors());

        ModelFile loaded = ModelFile.Load(path);
        ModelFileMetadata m = loaded.Metadata;
        Assert.AreEqual(BackboneKind.MobileNetV1, m.Backbone);
        Assert.AreEqual(0.75, m.BackboneWidth);
        CollectionAssert.AreEqual(metadata.ClassNames.ToArray(), m.ClassNames.ToArray());
        Assert.AreEqual(5, m.ClassCountWithBackground);
        Assert.AreEqual(metadata.Normalization.Scale, m.Normalization.Scale);
        CollectionAssert.AreEqual(metadata.Normalization.Mean.ToArray(), m.Normalization.Mean.ToArray());
        CollectionAssert.AreEqual(metadata.Normalization.Std.ToArray(), m.Normalization.Std.ToArray());
        Assert.AreEqual(metadata.TrainingOptionsJson, m.TrainingOptionsJson);
        Assert.AreEqual(metadata.LibraryVersion, m.LibraryVersion);
        Assert.IsFalse(string.IsNullOrEmpty(m.LibraryVersion));
        Assert.AreEqual(metadata.Created, m.Created);
        Assert.AreEqual(ModelFileMetadata.CurrentFormatVersion, m.FormatVersion);

        Assert.HasCount(3, loaded.Tensors);
        CollectionAssert.AreEqual(new[] { 1f, 2, 3, 4, 5 }, loaded.GetTensor("seg.1.bias").AsFloatArray());
        Assert.AreEqual(3L, loaded.GetTensor("bn.num_batches_tracked").AsInt64Array()[0]);

        // The metadata is plain safetensors metadata, readable by any safetensors tool.
        SafetensorsHeader header = SafetensorsFile.ReadHeader(path);
        Assert.AreEqual("wsss-rrm", header.Metadata["format"]);
        Assert.AreEqual("1", header.Metadata["format_version"]);
        Assert.AreEqual("MobileNetV1", header.Metadata["backbone"]);
        Assert.AreEqual("[\"aeroplane\",\"bicycle\",\"bird\",\"person\"]", header.Metadata["class_names"]);
        Assert.AreEqual(BackboneKind.MobileNetV1, ModelFile.ReadMetadata(path).Backbone);
    }

    [TestMethod]
    public void Load_TextFile_IsNotAWsssModel()
    {
        string path = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(path, "these are not the weights you are looking for");
        var ex = LoadFails(path);
        StringAssert.Contains(ex.Message, "this is not a Wsss model file");
        StringAssert.Contains(ex.Message, "not a readable safetensors file");
    }

    [TestMethod]
    public void Load_EmptyFile_IsNotAWsssModel()
    {
        string path = Path.Combine(_dir, "empty.safetensors");
        File.WriteAllBytes(path, []);
        StringAssert.Contains(LoadFails(path).Message, "this is not a Wsss model file");
    }

    [TestMethod]
    public void Load_PlainSafetensorsWithoutMetadata_IsNotAWsssModel()
    {
        string path = Path.Combine(_dir, "weights.safetensors");
        SafetensorsFile.Write(path, SampleTensors());
        var ex = LoadFails(path);
        StringAssert.Contains(ex.Message, "this is not a Wsss model file");
        StringAssert.Contains(ex.Message, "\"format\"");
    }

    [TestMethod]
    public void Load_OtherFormatName_IsNotAWsssModel()
    {
        string path = WriteWithMetadata("pt.safetensors", m => m["format"] = "pt");
        var ex = LoadFails(path);
        StringAssert.Contains(ex.Message, "this is not a Wsss model file");
        StringAssert.Contains(ex.Message, "\"pt\"");
    }

    [TestMethod]
    public void Load_NewerVersion_SaysWhichVersions()
    {
        string path = WriteWithMetadata("v2.safetensors", m => m["format_version"] = "2");
        var ex = LoadFails(path);
        StringAssert.Contains(ex.Message, $"written by format version 2, this library reads {ModelFileMetadata.CurrentFormatVersion}");
        StringAssert.Contains(ex.Message, "newer");
    }

    [TestMethod]
    public void Load_OlderVersion_SaysWhichVersions()
    {
        string path = WriteWithMetadata("v0.safetensors", m => m["format_version"] = "0");
        StringAssert.Contains(LoadFails(path).Message, $"written by format version 0, this library reads {ModelFileMetadata.CurrentFormatVersion}");
    }

    [TestMethod]
    public void Load_NonNumericVersion_Rejected()
    {
        string path = WriteWithMetadata("vx.safetensors", m => m["format_version"] = "1.0");
        StringAssert.Contains(LoadFails(path).Message, "not a whole number");
    }

    [TestMethod]
    [DataRow("format_version")]
    [DataRow("backbone")]
    [DataRow("backbone_width")]
    [DataRow("class_names")]
    [DataRow("input_normalization")]
    public void Load_MissingRequiredKey_NamesIt(string key)
    {
        string path = WriteWithMetadata($"no-{key}.safetensors", m => m.Remove(key));
        var ex = LoadFails(path);
        StringAssert.Contains(ex.Message, $"metadata key '{key}': this required key is missing");
        Assert.AreEqual(key, ex.EntryName);
    }

    [TestMethod]
    public void Load_OptionalKeysAbsent_UsesDefaults()
    {
        string path = WriteWithMetadata("minimal.safetensors", m =>
        {
            m.Remove("training_options");
            m.Remove("library_version");
            m.Remove("created");
        });
        ModelFileMetadata metadata = ModelFile.Load(path).Metadata;
        Assert.AreEqual("{}", metadata.TrainingOptionsJson);
        Assert.AreEqual("unknown", metadata.LibraryVersion);
    }

    [TestMethod]
    [DataRow("backbone", "VGG16", "known backbones")]
    [DataRow("backbone", "1", "known backbones")]
    [DataRow("backbone_width", "-0.5", "not a positive number")]
    [DataRow("class_names", "aeroplane,bird", "JSON array")]
    [DataRow("class_names", "[\"cat\",\"cat\"]", "appears twice")]
    [DataRow("class_names", "[]", "at least one")]
    [DataRow("input_normalization", "{\"scale\":1,\"mean\":[0,0],\"std\":[1,1,1]}", "3 values")]
    [DataRow("input_normalization", "{\"scale\":1,\"mean\":[0,0,0],\"std\":[1,0,1]}", "std positive")]
    [DataRow("created", "yesterday", "ISO 8601")]
    public void Load_InvalidValue_Explains(string key, string value, string fragment)
    {
        string path = WriteWithMetadata("bad.safetensors", m => m[key] = value);
        var ex = LoadFails(path);
        StringAssert.Contains(ex.Message, fragment);
        StringAssert.Contains(ex.Message, key);
    }

    [TestMethod]
    public void Load_Truncated_SaysDamagedOrTruncated()
    {
        string good = Path.Combine(_dir, "good.safetensors");
        ModelFile.Save(good, SampleMetadata(), SampleTensors());
        byte[] bytes = File.ReadAllBytes(good);
        string cut = Path.Combine(_dir, "cut.safetensors");
        File.WriteAllBytes(cut, bytes[..^6]);

        var ex = LoadFails(cut);
        StringAssert.Contains(ex.Message, "damaged or truncated");
        Assert.IsNotNull(ex.EntryName);
        Assert.ThrowsExactly<FileFormatException>(() => ModelFile.ReadMetadata(cut));

        // Cut inside the header: no longer recognisable at all.
        string cutHeader = Path.Combine(_dir, "cut-header.safetensors");
        File.WriteAllBytes(cutHeader, bytes[..40]);
        StringAssert.Contains(LoadFails(cutHeader).Message, "truncated");
    }

    [TestMethod]
    public void Load_MissingFile_FileNotFound()
    {
        string path = Path.Combine(_dir, "absent.safetensors");
        var ex = Assert.ThrowsExactly<FileNotFoundException>(() => ModelFile.Load(path));
        StringAssert.Contains(ex.Message, path);
    }

    [TestMethod]
    public void Save_InvalidMetadata_ThrowsAndWritesNothing()
    {
        string path = Path.Combine(_dir, "m.safetensors");
        ModelFileMetadata duplicate = new()
        {
            Backbone = BackboneKind.SmallCnn,
            ClassNames = ["cat", "cat"],
            Normalization = InputNormalization.ImageNet,
        };
        Assert.ThrowsExactly<ArgumentException>(() => ModelFile.Save(path, duplicate, SampleTensors()));
        ModelFileMetadata badOptions = new()
        {
            Backbone = BackboneKind.SmallCnn,
            ClassNames = ["cat"],
            Normalization = InputNormalization.ImageNet,
            TrainingOptionsJson = "{lr: 1",
        };
        Assert.ThrowsExactly<ArgumentException>(() => ModelFile.Save(path, badOptions, SampleTensors()));
        Assert.IsFalse(File.Exists(path));
        Assert.IsEmpty(Directory.GetFiles(_dir));
    }

    [TestMethod]
    public void InputNormalization_PresetsMatchTheirDefinitions()
    {
        InputNormalization imagenet = InputNormalization.ImageNet;
        Assert.AreEqual((1.0 - 0.485) / 0.229, imagenet.Normalize(255, 0), 1e-6);
        Assert.AreEqual((0.0 - 0.406) / 0.225, imagenet.Normalize(0, 2), 1e-6);

        InputNormalization tf = InputNormalization.MinusOneToOne;
        for (int v = 0; v <= 255; v += 15)
        {
            for (int c = 0; c < 3; c++)
            {
                Assert.AreEqual(v / 127.5 - 1.0, tf.Normalize((byte)v, c), 1e-6);
                (float mul, float off) = imagenet.GetChannelAffine(c);
                Assert.AreEqual(imagenet.Normalize((byte)v, c), v * mul + off, 1e-5);
            }
        }

        Assert.ThrowsExactly<ArgumentException>(() => new InputNormalization(1.0 / 255, [0.5, 0.5], [0.5, 0.5, 0.5]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new InputNormalization(0, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]));
    }

    [TestMethod]
    public void ModelFile_IsReadableAsPlainSafetensorsBytes()
    {
        string path = Path.Combine(_dir, "model.safetensors");
        ModelFile.Save(path, SampleMetadata(), SampleTensors());
        byte[] bytes = File.ReadAllBytes(path);
        ulong headerLength = BitConverter.ToUInt64(bytes, 0);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)headerLength);
        Assert.StartsWith("{\"__metadata__\":{", header);
        Assert.AreEqual(0UL, headerLength % 8);
        StringAssert.Contains(header, "\"format\":\"wsss-rrm\"");
    }
}
