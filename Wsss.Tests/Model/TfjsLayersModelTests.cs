using System.Text.Json;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Model.Serialization;

namespace Wsss.Tests.Model;

[TestClass]
public sealed class TfjsLayersModelTests
{
    private string _dir = "";

    [TestInitialize]
    public void Setup() => _dir = TestFiles.NewTempDirectory();

    [TestCleanup]
    public void Cleanup() => TestFiles.DeleteDirectory(_dir);

    private static string MobileNetJson()
    {
        string? data = TestFiles.SharedDataDirectory();
        string path = data is null ? "" : Path.Combine(data, "weights", "mobilenet_v1_0.75_224", "model.json");
        if (!File.Exists(path))
        {
            Assert.Inconclusive("shared data ../shared/data/weights/mobilenet_v1_0.75_224/model.json is not available");
        }

        return path;
    }

    private const string TinyTopology = """
        {"keras_version": "2.1.4", "backend": "tensorflow", "model_config": {"class_name": "Model", "config": {"name": "tiny", "layers": [
          {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [], "config": {"batch_input_shape": [null, 4, 4, 2], "name": "input_1"}},
          {"class_name": "Conv2D", "name": "conv", "inbound_nodes": [[["input_1", 0, 0, {}]]],
           "config": {"name": "conv", "filters": 3, "kernel_size": [1, 1], "strides": [2, 2], "padding": "same", "use_bias": true, "activation": "relu6", "dilation_rate": [1, 1]}},
          {"class_name": "BatchNormalization", "name": "bn", "inbound_nodes": [[["conv", 0, 0, {}]]], "config": {"name": "bn", "epsilon": 0.001}},
          {"class_name": "LeakyReLU", "name": "leaky", "inbound_nodes": [[["bn", 0, 0, {}]]], "config": {"name": "leaky", "alpha": 0.2}},
          {"class_name": "Reshape", "name": "flat", "inbound_nodes": [[["leaky", 0, 0, {}]]], "config": {"name": "flat", "target_shape": [-1]}}
        ], "input_layers": [["input_1", 0, 0]], "output_layers": [["flat", 0, 0]]}}}
        """;

    /// <summary>Writes model.json with the tiny topology and the given manifest, plus shard files.</summary>
    private string WriteModel(string manifestJson, params (string Name, byte[] Bytes)[] shards)
    {
        foreach ((string name, byte[] bytes) in shards)
        {
            File.WriteAllBytes(Path.Combine(_dir, name), bytes);
        }

        string path = Path.Combine(_dir, "model.json");
        File.WriteAllText(path, "{\"modelTopology\": " + TinyTopology + ", \"weightsManifest\": " + manifestJson + "}");
        return path;
    }

    private static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    private const string TinyManifest = """
        [{"paths": ["group1-shard1of2", "group1-shard2of2"], "weights": [
            {"name": "conv/kernel", "shape": [1, 1, 2, 3], "dtype": "float32"},
            {"name": "conv/bias", "shape": [3], "dtype": "float32"}]},
         {"paths": ["group2-shard1of1"], "weights": [
            {"name": "bn/gamma", "shape": [3], "dtype": "float32"},
            {"name": "bn/beta", "shape": [3], "dtype": "float32"}]}]
        """;

    private string WriteTinyModel()
    {
        byte[] group1 = Floats(1, 2, 3, 4, 5, 6, 0.5f, -0.5f, 0.25f);
        return WriteModel(TinyManifest,
            ("group1-shard1of2", group1[..10]), // a shard boundary inside a value: shards are one byte stream
            ("group1-shard2of2", group1[10..]),
            ("group2-shard1of1", Floats(1, 1, 1, 0, 0, 0)));
    }

    [TestMethod]
    public void Load_TinyModel_LayersAndWeights()
    {
        TfjsLayersModel model = TfjsLayersModel.Load(WriteTinyModel());

        Assert.AreEqual("2.1.4", model.KerasVersion);
        CollectionAssert.AreEqual(new[] { "InputLayer", "Conv2D", "BatchNormalization", "LeakyReLU", "Reshape" },
            model.Layers.Select(l => l.ClassName).ToArray());
        TfjsLayer conv = model.Layers[1];
        Assert.AreEqual("conv", conv.Name);
        CollectionAssert.AreEqual(new[] { 2, 2 }, conv.Strides);
        CollectionAssert.AreEqual(new[] { 1, 1 }, conv.KernelSize);
        Assert.AreEqual("same", conv.Padding);
        Assert.AreEqual("relu6", conv.Activation);
        Assert.AreEqual(3, conv.Filters);
        Assert.IsTrue(conv.UseBias);
        Assert.IsNull(conv.DepthMultiplier);
        CollectionAssert.AreEqual(new[] { "input_1" }, conv.InboundLayers.ToArray());
        Assert.AreEqual(0.001, model.Layers[2].Epsilon);
        Assert.AreEqual(0.2, model.Layers[3].Alpha);
        CollectionAssert.AreEqual(new[] { -1 }, model.Layers[4].TargetShape);
        CollectionAssert.AreEqual(new[] { -1, 4, 4, 2 }, model.Layers[0].GetIntArray("batch_input_shape"));

        CollectionAssert.AreEqual(new[] { "conv/kernel", "conv/bias", "bn/gamma", "bn/beta" }, model.Weights.Select(w => w.Name).ToArray());
        TensorData kernel = model.GetWeight("conv/kernel");
        CollectionAssert.AreEqual(new long[] { 1, 1, 2, 3 }, kernel.Shape);
        CollectionAssert.AreEqual(new float[] { 1, 2, 3, 4, 5, 6 }, kernel.AsFloatArray());
        CollectionAssert.AreEqual(new float[] { 0.5f, -0.5f, 0.25f }, model.GetWeight("conv/bias").AsFloatArray());
        CollectionAssert.AreEqual(new[] { "bn/gamma", "bn/beta" }, model.WeightsOf("bn").Select(w => w.Name).ToArray());
        var ex = Assert.ThrowsExactly<KeyNotFoundException>(() => model.GetWeight("nope"));
        StringAssert.Contains(ex.Message, "nope");
    }

    [TestMethod]
    public void Load_MissingShard_NamesIt()
    {
        string path = WriteModel(TinyManifest, ("group1-shard1of2", new byte[10]), ("group1-shard2of2", new byte[26]));
        var ex = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(path));
        StringAssert.Contains(ex.Message, "group2-shard1of1");
        StringAssert.Contains(ex.Message, "missing");
        StringAssert.Contains(ex.Message, path);
    }

    [TestMethod]
    public void Load_ShardSizeMismatch_GivesBothSizes()
    {
        string path = WriteModel(TinyManifest,
            ("group1-shard1of2", new byte[10]), ("group1-shard2of2", new byte[26]), ("group2-shard1of1", new byte[20]));
        var ex = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(path));
        StringAssert.Contains(ex.Message, "20 bytes");
        StringAssert.Contains(ex.Message, "need 24");
        StringAssert.Contains(ex.Message, "bn/gamma");
    }

    [TestMethod]
    public void Load_UnknownDtype_NamesWeight()
    {
        string manifest = """[{"paths": ["g"], "weights": [{"name": "w", "shape": [2], "dtype": "complex64"}]}]""";
        string path = WriteModel(manifest, ("g", new byte[16]));
        var ex = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(path));
        StringAssert.Contains(ex.Message, "complex64");
        Assert.AreEqual("w", ex.EntryName);
    }

    [TestMethod]
    public void Load_ShardPathOutsideDirectory_Rejected()
    {
        string manifest = """[{"paths": ["../elsewhere"], "weights": [{"name": "w", "shape": [1], "dtype": "float32"}]}]""";
        var ex = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(WriteModel(manifest)));
        StringAssert.Contains(ex.Message, "leaves the model's directory");
    }

    [TestMethod]
    public void Load_DuplicateWeight_Rejected()
    {
        string manifest = """[{"paths": ["g"], "weights": [{"name": "w", "shape": [1]}, {"name": "w", "shape": [1]}]}]""";
        var ex = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(WriteModel(manifest, ("g", new byte[8]))));
        StringAssert.Contains(ex.Message, "more than once");
    }

    [TestMethod]
    public void Load_QuantizedWeights_AreDequantized()
    {
        string manifest = """
            [{"paths": ["g"], "weights": [
              {"name": "q8", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
              {"name": "h", "shape": [1], "dtype": "float32", "quantization": {"dtype": "float16"}},
              {"name": "i", "shape": [1], "dtype": "int32"}]}]
            """;
        byte[] bytes = [0, 2, 255, .. BitConverter.GetBytes(BitConverter.HalfToUInt16Bits((Half)0.75f)), .. BitConverter.GetBytes(-7)];
        TfjsLayersModel model = TfjsLayersModel.Load(WriteModel(manifest, ("g", bytes)));
        CollectionAssert.AreEqual(new[] { -1f, 0f, 126.5f }, model.GetWeight("q8").AsFloatArray());
        CollectionAssert.AreEqual(new[] { 0.75f }, model.GetWeight("h").AsFloatArray());
        CollectionAssert.AreEqual(new[] { -7 }, model.GetWeight("i").AsInt32Array());
    }

    [TestMethod]
    public void Load_NotALayersModel_Rejected()
    {
        string path = Path.Combine(_dir, "model.json");
        File.WriteAllText(path, """{"format": "graph-model", "weightsManifest": []}""");
        var ex = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(path));
        StringAssert.Contains(ex.Message, "modelTopology");
        File.WriteAllText(path, "{not json");
        ex = Assert.ThrowsExactly<FileFormatException>(() => TfjsLayersModel.Load(path));
        StringAssert.Contains(ex.Message, "not valid JSON");
    }

    [TestMethod]
    public void Load_RealMobileNet_LayersAndWeightShapes()
    {
        string path = MobileNetJson();
        TfjsLayersModel model = TfjsLayersModel.Load(path);

        // Compare with an independent reading of the same file.
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        JsonElement layerList = doc.RootElement.GetProperty("modelTopology").GetProperty("model_config").GetProperty("config").GetProperty("layers");
        Assert.AreEqual(layerList.GetArrayLength(), model.Layers.Count);
        var manifestWeights = doc.RootElement.GetProperty("weightsManifest").EnumerateArray()
            .SelectMany(g => g.GetProperty("weights").EnumerateArray()).ToList();
        Assert.AreEqual(manifestWeights.Count, model.Weights.Count);
        foreach (JsonElement w in manifestWeights)
        {
            TensorData t = model.GetWeight(w.GetProperty("name").GetString()!);
            CollectionAssert.AreEqual(w.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(), t.Shape, t.Name);
            Assert.AreEqual(TensorDType.F32, t.DType);
        }

        Assert.AreEqual(55, Directory.GetFiles(Path.GetDirectoryName(path)!, "group*-shard*").Length);
        long parameters = model.Weights.Sum(w => w.ElementCount);
        Assert.IsTrue(parameters is > 2_500_000 and < 2_700_000, $"MobileNet v1 0.75 has about 2.6 M parameters, read {parameters}");

        TfjsLayer conv1 = model.Layers.Single(l => l.Name == "conv1");
        Assert.AreEqual("Conv2D", conv1.ClassName);
        CollectionAssert.AreEqual(new[] { 2, 2 }, conv1.Strides);
        Assert.AreEqual(24, conv1.Filters);
        Assert.IsFalse(conv1.UseBias);
        CollectionAssert.AreEqual(new long[] { 3, 3, 3, 24 }, model.GetWeight("conv1/kernel").Shape);
        TfjsLayer dw2 = model.Layers.Single(l => l.Name == "conv_dw_2");
        Assert.AreEqual("DepthwiseConv2D", dw2.ClassName);
        Assert.AreEqual(1, dw2.DepthMultiplier);
        CollectionAssert.AreEqual(new[] { 2, 2 }, dw2.Strides);
        Assert.AreEqual(0.001, model.Layers.Single(l => l.Name == "conv1_bn").Epsilon);
        Assert.AreEqual("relu6", model.Layers.Single(l => l.Name == "conv1_relu").Activation);
        Assert.AreEqual(13, model.Layers.Count(l => l.ClassName == "DepthwiseConv2D"));

        // Trained BatchNorm statistics: variances positive, gammas not all equal.
        float[] variance = model.GetWeight("conv1_bn/moving_variance").AsFloatArray();
        Assert.IsTrue(variance.All(v => v > 0 && float.IsFinite(v)));
        float[] kernel = model.GetWeight("conv_preds/kernel").AsFloatArray();
        Assert.IsTrue(kernel.All(float.IsFinite));
        Assert.IsGreaterThan(0.0, kernel.Select(v => (double)v * v).Sum());
        Assert.AreEqual(1000, model.GetWeight("conv_preds/bias").ElementCount);
    }
}
