using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Data;
using Wsss.Engine;
using Wsss.Imaging;
using Wsss.Inference;
using Wsss.MLNet.Internal;
using Wsss.Model;

namespace Wsss.MLNet.Tests;

public sealed class SeedRow
{
    public string ImagePath { get; set; } = "";

    public float[] ClassActivationMaps { get; set; } = [];

    public uint[] ReliableSeeds { get; set; } = [];

    public uint[] PseudoMask { get; set; } = [];

    public int MaskHeight { get; set; }

    public int MaskWidth { get; set; }
}

public sealed class ProbabilityRow
{
    public uint[] PredictedMask { get; set; } = [];

    public float[] ClassProbabilities { get; set; } = [];

    public int MaskHeight { get; set; }

    public int MaskWidth { get; set; }
}

/// <summary>
/// The pipeline stages besides training: the seeds step, the mask-prediction step with its options and
/// devices, and the savable CustomMapping route. One tiny model (SmallCnn, a few iterations) for the class.
/// </summary>
[TestClass]
public sealed class MLNetStagesTests
{
    private const int Size = 48;
    private static string folder = "";
    private static List<InputRow> rows = [];
    private static MLContext ml = null!;
    private static WeaklySupervisedSegmentationTransformer model = null!;
    private static string modelPath = "";

    [ClassInitialize]
    public static void Setup(TestContext context)
    {
        _ = context;
        folder = Path.Combine(Path.GetTempPath(), "wsss-mlnet-stages-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var synthetic = new SyntheticDataset(new SyntheticDatasetOptions { ImageSize = Size, ClassCount = 3, Seed = 11, MinVisiblePixels = 10 }, 4);
        foreach (var sample in synthetic)
        {
            string path = Path.Combine(folder, $"img{sample.Index}.png");
            ImageCodec.SavePng(sample.Image, path);
            rows.Add(new InputRow { ImagePath = path, Labels = string.Join(";", sample.LabelNames) });
        }

        ml = new MLContext(seed: 1);
        model = ml.Transforms.WeaklySupervisedSegment(new WeaklySupervisedSegmentationOptions
        {
            Backbone = BackboneKind.SmallCnn, Iterations = 3, BatchSize = 2, CropSize = Size, Threads = 1, Seed = 2, Device = DeviceKind.Cpu,
        }).Fit(ml.Data.LoadFromEnumerable(rows));
        modelPath = Path.Combine(folder, "model.wsss");
        model.Save(modelPath);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        model?.Dispose();
        SegmentationMappingFactory.Unregister();
        Directory.Delete(folder, recursive: true);
    }

    private static int[] LabelIndices(InputRow row) =>
        row.Labels.Split(';').Select(n => model.ClassNames.ToList().IndexOf(n)).ToArray();

    [TestMethod]
    public void Seeds_GiveTheCoreModelsCamsSeedsAndPseudoMasks_ForEveryRow()
    {
        var output = ml.Data.CreateEnumerable<SeedRow>(
            ml.Transforms.ComputeReliableSeeds(model).Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows)),
            reuseRowObject: false).ToList();
        Assert.HasCount(rows.Count, output);
        int classes = model.ClassNames.Count;
        for (int i = 0; i < rows.Count; i++)
        {
            var image = ImageCodec.Decode(rows[i].ImagePath);
            int[] labels = LabelIndices(rows[i]);
            SeedRow r = output[i];
            Assert.AreEqual(rows[i].ImagePath, r.ImagePath);
            Assert.AreEqual(image.Height, r.MaskHeight);
            Assert.AreEqual(image.Width, r.MaskWidth);
            int plane = image.Height * image.Width;

            float[] cams = model.Model.ClassActivationMaps(image, labels);
            Assert.HasCount(classes * plane, r.ClassActivationMaps);
            for (int j = 0; j < cams.Length; j++)
            {
                Assert.AreEqual(cams[j], r.ClassActivationMaps[j], 1e-5f, $"row {i}: CAM value {j}");
            }

            for (int c = 0; c < classes; c++)
            {
                if (!labels.Contains(c))
                {
                    Assert.IsTrue(r.ClassActivationMaps.Skip(c * plane).Take(plane).All(v => v == 0), $"row {i}: CAM of absent class {c} is not zero");
                }
            }

            var allowed = labels.Select(c => (uint)(c + 1)).Append(0u).ToHashSet();
            Assert.HasCount(plane, r.ReliableSeeds);
            Assert.IsTrue(r.ReliableSeeds.All(v => v == 255 || allowed.Contains(v)), $"row {i}: a seed is neither unreliable nor a labelled class");
            CollectionAssert.AreEqual(model.Model.ReliableSeeds(image, labels).Labels.Select(b => (uint)b).ToArray(), r.ReliableSeeds, $"row {i}: seeds");

            Assert.HasCount(plane, r.PseudoMask);
            Assert.IsTrue(r.PseudoMask.All(allowed.Contains), $"row {i}: the pseudo mask has a class the label denies");
            CollectionAssert.AreEqual(model.Model.PseudoMask(image, labels).Mask.Labels.Select(b => (uint)b).ToArray(), r.PseudoMask, $"row {i}: pseudo mask");
        }
    }

    [TestMethod]
    public void Seeds_FromAModelFile_DecodedPixelsAndAPredictionEngine_AgreeWithTheFittedModel()
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var direct = ml.Data.CreateEnumerable<SeedRow>(ml.Transforms.ComputeReliableSeeds(model).Fit(data).Transform(data), false).ToList();

        var pipeline = ml.Transforms.LoadWeaklySupervisedImages("Pixels", "ImagePath")
            .Append(ml.Transforms.ComputeReliableSeeds(modelPath, new ReliableSeedsTransformOptions { ImageColumnName = "Pixels", Device = DeviceKind.Cpu }));
        var fitted = pipeline.Fit(data);
        var fromFile = ml.Data.CreateEnumerable<SeedRow>(fitted.Transform(data), false).ToList();
        using var engine = ml.Model.CreatePredictionEngine<InputRow, SeedRow>(fitted);
        for (int i = 0; i < rows.Count; i++)
        {
            CollectionAssert.AreEqual(direct[i].ReliableSeeds, fromFile[i].ReliableSeeds, $"row {i}: seeds from the file and decoded pixels");
            CollectionAssert.AreEqual(direct[i].PseudoMask, fromFile[i].PseudoMask, $"row {i}: pseudo mask from the file and decoded pixels");
            SeedRow predicted = engine.Predict(rows[i]);
            CollectionAssert.AreEqual(direct[i].ReliableSeeds, predicted.ReliableSeeds, $"row {i}: seeds through the prediction engine");
            Assert.AreEqual(direct[i].MaskWidth, predicted.MaskWidth);
        }
    }

    [TestMethod]
    public void MLImageInput_SeedsAndMaskPredictionFromLoadImages_EqualThePathInput()
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var seedsFromPaths = ml.Data.CreateEnumerable<SeedRow>(ml.Transforms.ComputeReliableSeeds(model).Fit(data).Transform(data), false).ToList();
        var seedsFromImages = ml.Data.CreateEnumerable<SeedRow>(ml.Transforms.LoadImages("Photo", null, "ImagePath")
            .Append(ml.Transforms.ComputeReliableSeeds(model, new ReliableSeedsTransformOptions { ImageColumnName = "Photo" }))
            .Fit(data).Transform(data), false).ToList();

        var predictionOptions = new SegmentationPredictionOptions { ImagePathColumnName = "Photo", OutputClassProbabilities = true, Device = DeviceKind.Cpu };
        var loaded = ml.Transforms.LoadImages("Photo", null, "ImagePath").Fit(data).Transform(data);
        using var predictor = ml.Transforms.PredictSegmentationMasks(modelPath, predictionOptions).Fit(loaded);
        var masks = ml.Data.CreateEnumerable<ProbabilityRow>(predictor.Transform(loaded), false).ToList();
        for (int i = 0; i < rows.Count; i++)
        {
            CollectionAssert.AreEqual(seedsFromPaths[i].ClassActivationMaps, seedsFromImages[i].ClassActivationMaps, $"row {i}: CAMs");
            CollectionAssert.AreEqual(seedsFromPaths[i].ReliableSeeds, seedsFromImages[i].ReliableSeeds, $"row {i}: seeds");
            CollectionAssert.AreEqual(seedsFromPaths[i].PseudoMask, seedsFromImages[i].PseudoMask, $"row {i}: pseudo mask");
            var expected = model.Model.Predict(ImageCodec.Decode(rows[i].ImagePath), new PredictionOptions { IncludeProbabilities = true });
            CollectionAssert.AreEqual(expected.Mask.Labels.Select(b => (uint)b).ToArray(), masks[i].PredictedMask, $"row {i}: mask");
            CollectionAssert.AreEqual(expected.Probabilities, masks[i].ClassProbabilities, $"row {i}: probabilities");
        }
    }

    [TestMethod]
    public void Seeds_SchemaErrorsNameTheColumnAndTheType_AndUnknownLabelsNameTheRow()
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var shape = ml.Transforms.ComputeReliableSeeds(model).GetOutputSchema(SchemaShapeOf(data));
        Assert.IsTrue(shape.Any(c => c.Name == "ReliableSeeds" && c.Kind == SchemaShape.Column.VectorKind.VariableVector && c.ItemType == NumberDataViewType.UInt32));
        Assert.IsTrue(shape.Any(c => c.Name == "ClassActivationMaps" && c.Kind == SchemaShape.Column.VectorKind.VariableVector && c.ItemType == NumberDataViewType.Single));
        Assert.IsTrue(shape.Any(c => c.Name == "MaskHeight" && c.Kind == SchemaShape.Column.VectorKind.Scalar && c.ItemType == NumberDataViewType.Int32));

        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ComputeReliableSeeds(model, labelsColumnName: "Tags").GetOutputSchema(SchemaShapeOf(data)));
        StringAssert.Contains(e1.Message, "'Tags'");
        StringAssert.Contains(e1.Message, "Key");
        var numbers = ml.Data.LoadFromEnumerable(new[] { new { ImagePath = 1f, Labels = "a" } });
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ComputeReliableSeeds(model).Fit(numbers));
        StringAssert.Contains(e2.Message, "'ImagePath'");
        StringAssert.Contains(e2.Message, "Single");

        var unknown = ml.Data.LoadFromEnumerable(new[] { new InputRow { ImagePath = rows[0].ImagePath, Labels = "zebra" } });
        var e3 = Assert.Throws<InvalidOperationException>(() => ml.Transforms.ComputeReliableSeeds(model).Fit(unknown).Transform(unknown).GetColumn<VBuffer<uint>>("ReliableSeeds").ToList());
        StringAssert.Contains(e3.Message, "'zebra'");
        StringAssert.Contains(e3.Message, "'Labels'");
        Assert.Throws<FileNotFoundException>(() => ml.Transforms.ComputeReliableSeeds(Path.Combine(folder, "missing.wsss")));
    }

    [TestMethod]
    public void RowComputer_ComputesOncePerRow_HoweverManyColumnsAndTimesAreRead()
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var mapping = new CountingMapping(data.Schema);
        var view = new MappedDataView(data, mapping);
        using var cursor = view.GetRowCursor(view.Schema);
        var a = cursor.GetGetter<int>(view.Schema["A"]);
        var b = cursor.GetGetter<int>(view.Schema["B"]);
        int rowsRead = 0;
        while (cursor.MoveNext())
        {
            int x = 0, y = 0;
            a(ref x);
            b(ref y);
            a(ref x);
            Assert.AreEqual(x + 1, y);
            rowsRead++;
            Assert.AreEqual(rowsRead, mapping.Computations, "one computation per row read");
        }

        Assert.AreEqual(rows.Count, rowsRead);
    }

    [TestMethod]
    public void PredictSegmentationMasks_WithScalesFlipCrfAndProbabilities_MatchesTheCoreModel_InAChain()
    {
        var options = new SegmentationPredictionOptions
        {
            ImagePathColumnName = "Path", PredictionScales = [0.75, 1.0], PredictionFlip = true, PredictionUseCrf = true,
            OutputClassProbabilities = true, Device = DeviceKind.Cpu,
        };
        var pipeline = ml.Transforms.CopyColumns("Path", "ImagePath").Append(ml.Transforms.PredictSegmentationMasks(modelPath, options));
        var data = ml.Data.LoadFromEnumerable(rows);
        using var fitted = pipeline.Fit(data);
        var output = ml.Data.CreateEnumerable<ProbabilityRow>(fitted.Transform(data), false).ToList();
        var core = new PredictionOptions { Scales = [0.75, 1.0], Flip = true, UseCrf = true, IncludeProbabilities = true };
        int k = model.ClassNames.Count + 1;
        for (int i = 0; i < rows.Count; i++)
        {
            var expected = model.Model.Predict(ImageCodec.Decode(rows[i].ImagePath), core);
            CollectionAssert.AreEqual(expected.Mask.Labels.Select(b => (uint)b).ToArray(), output[i].PredictedMask, $"row {i}: mask");
            Assert.HasCount(k * Size * Size, output[i].ClassProbabilities);
            for (int j = 0; j < expected.Probabilities!.Length; j++)
            {
                Assert.AreEqual(expected.Probabilities[j], output[i].ClassProbabilities[j], 1e-5f, $"row {i}: probability {j}");
            }

            float sum = Enumerable.Range(0, k).Sum(c => output[i].ClassProbabilities[c * Size * Size]);
            Assert.AreEqual(1f, sum, 1e-3f, $"row {i}: probabilities of pixel 0 do not sum to 1");
        }

        // The CRF and multi-scale settings must actually reach the model: plain prediction differs somewhere.
        using var plain = ml.Transforms.PredictSegmentationMasks(modelPath, new SegmentationPredictionOptions { OutputClassProbabilities = true, Device = DeviceKind.Cpu }).Fit(data);
        var plainOutput = ml.Data.CreateEnumerable<ProbabilityRow>(plain.Transform(data), false).ToList();
        Assert.IsTrue(Enumerable.Range(0, rows.Count).Any(i => !plainOutput[i].ClassProbabilities.SequenceEqual(output[i].ClassProbabilities)));

        Assert.Throws<ArgumentException>(() => ml.Transforms.PredictSegmentationMasks(modelPath, new SegmentationPredictionOptions { PredictionScales = [] }));
        Assert.Throws<FileNotFoundException>(() => ml.Transforms.PredictSegmentationMasks(Path.Combine(folder, "missing.wsss")));
    }

    [TestMethod]
    public void Devices_FollowTheOptionsAndTheContext_ForEveryStepThatLoadsAModel()
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var strict = new MLContext(seed: 1) { FallbackToCpu = false, GpuDeviceId = 0 };
        var lenient = new MLContext(seed: 1) { FallbackToCpu = true, GpuDeviceId = 0 };
        using (var cpu = ml.Transforms.PredictSegmentationMasks(modelPath, new SegmentationPredictionOptions { Device = DeviceKind.Cpu, Context = strict }).Fit(data))
        {
            Assert.AreEqual(DeviceType.CPU, cpu.Model.Device.type, "Cpu is honoured whatever the context says");
        }

        if (Devices.CudaDeviceCount > 0)
        {
            using var gpu = ml.Transforms.PredictSegmentationMasks(modelPath, new SegmentationPredictionOptions { Device = DeviceKind.Cuda, Context = strict }).Fit(data);
            Assert.AreEqual(DeviceType.CUDA, gpu.Model.Device.type);
            return;
        }

        // CPU-only libtorch: Cuda fails when the context forbids the fallback, and falls back when it allows it.
        var e1 = Assert.Throws<InvalidOperationException>(() => ml.Transforms.PredictSegmentationMasks(modelPath, new SegmentationPredictionOptions { Device = DeviceKind.Cuda, Context = strict }).Fit(data));
        StringAssert.Contains(e1.Message, "FallbackToCpu");
        Assert.Throws<InvalidOperationException>(() => ml.Transforms.ComputeReliableSeeds(modelPath, new ReliableSeedsTransformOptions { Device = DeviceKind.Cuda, Context = strict }).Fit(data));
        Assert.Throws<InvalidOperationException>(() => ml.Transforms.PredictSegmentationMasksWithCustomMapping(modelPath, device: DeviceKind.Cuda, context: strict));
        // An explicit option wins over the context.
        using (var fallback = ml.Transforms.PredictSegmentationMasks(modelPath, new SegmentationPredictionOptions { Device = DeviceKind.Cuda, Context = strict, FallbackToCpu = true }).Fit(data))
        {
            Assert.AreEqual(DeviceType.CPU, fallback.Model.Device.type);
        }

        using (var seeds = ml.Transforms.ComputeReliableSeeds(modelPath, new ReliableSeedsTransformOptions { Device = DeviceKind.Cuda, Context = lenient }).Fit(data))
        {
            Assert.AreEqual(DeviceType.CPU, seeds.Model.Device.type);
        }

        using var auto = ml.Transforms.PredictSegmentationMasks(modelPath, new SegmentationPredictionOptions { Device = DeviceKind.Auto, Context = strict }).Fit(data);
        Assert.AreEqual(DeviceType.CPU, auto.Model.Device.type, "Auto uses the CPU when there is no GPU, even without fallback");
    }

    [TestMethod]
    public void CustomMappingRoute_ModelSaveAndLoad_GivesIdenticalMasks_WithTheModelFileBesideTheZip()
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.CopyColumns("Original", "ImagePath")
            .Append(ml.Transforms.PredictSegmentationMasksWithCustomMapping(modelPath, device: DeviceKind.Cpu));
        var fitted = pipeline.Fit(data);
        var before = ml.Data.CreateEnumerable<MaskRow>(fitted.Transform(data), false).ToList();
        string zip = Path.Combine(folder, "pipeline.zip");
        ml.Model.Save(fitted, data.Schema, zip);

        string? previous = Environment.GetEnvironmentVariable(SegmentationMappingFactory.ModelPathVariable);
        try
        {
            // A fresh context, as in another process: no registration, the model file named by the variable.
            SegmentationMappingFactory.Unregister();
            Environment.SetEnvironmentVariable(SegmentationMappingFactory.ModelPathVariable, null);
            var other = new MLContext(seed: 2);
            other.ComponentCatalog.RegisterAssembly(typeof(SegmentationMappingFactory).Assembly);
            var e = Assert.Throws<Exception>(() => other.Model.Load(zip, out _));
            StringAssert.Contains(e.ToString(), SegmentationMappingFactory.ModelPathVariable);

            Environment.SetEnvironmentVariable(SegmentationMappingFactory.ModelPathVariable, modelPath);
            ITransformer loaded = other.Model.Load(zip, out DataViewSchema inputSchema);
            Assert.IsNotNull(inputSchema.GetColumnOrNull("ImagePath"));
            var after = other.Data.CreateEnumerable<MaskRow>(loaded.Transform(other.Data.LoadFromEnumerable(rows)), false).ToList();
            Assert.HasCount(rows.Count, after);
            for (int i = 0; i < rows.Count; i++)
            {
                Assert.AreEqual(Size, after[i].MaskHeight);
                Assert.AreEqual(Size, after[i].MaskWidth);
                CollectionAssert.AreEqual(before[i].PredictedMask, after[i].PredictedMask, $"row {i}: mask after the zip round trip");
                CollectionAssert.AreEqual(model.Model.Predict(ImageCodec.Decode(rows[i].ImagePath)).Mask.Labels.Select(b => (uint)b).ToArray(), after[i].PredictedMask, $"row {i}: mask vs the core model");
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable(SegmentationMappingFactory.ModelPathVariable, previous);
        }
    }

    private static SchemaShape SchemaShapeOf(IDataView data) =>
        (SchemaShape)typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.Invoke(null, [data.Schema])!;

    /// <summary>Two added columns A (a per-row counter) and B (A + 1) that count how often a row is computed.</summary>
    private sealed class CountingMapping(DataViewSchema input) : RowMapping(input, [("A", NumberDataViewType.Int32), ("B", NumberDataViewType.Int32)])
    {
        public int Computations;

        public override IReadOnlyList<DataViewSchema.Column> Sources { get; } = [input["ImagePath"]];

        public override RowComputer CreateComputer(DataViewRow row) => new Computer(row, this);

        private sealed class Computer(DataViewRow row, CountingMapping owner) : RowComputer(row)
        {
            private int value;

            protected override void Compute() => value = ++owner.Computations;

            public override Delegate GetGetter(int index) => index switch
            {
                0 => (ValueGetter<int>)((ref int dst) =>
                {
                    EnsureComputed();
                    dst = value;
                }),
                _ => (ValueGetter<int>)((ref int dst) =>
                {
                    EnsureComputed();
                    dst = value + 1;
                }),
            };
        }
    }
}
