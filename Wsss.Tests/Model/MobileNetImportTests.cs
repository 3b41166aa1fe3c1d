using System.Text.Json;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;
using Wsss.Model;
using static TorchSharp.torch;
using static Wsss.Tests.Engine.TensorAssert;

namespace Wsss.Tests.Model;

[TestClass]
public sealed class MobileNetImportTests
{
    private static string ModelJson() => TestData.RequireShared("weights", "mobilenet_v1_0.75_224", "model.json");

    /// <summary>(1, 3, H, W) network input from an RGB image with the backbone's normalisation.</summary>
    private static Tensor ToInput(RgbImage image, InputNormalization normalization)
    {
        int plane = image.Height * image.Width;
        var chw = new float[3 * plane];
        for (int c = 0; c < 3; c++)
        {
            for (int p = 0; p < plane; p++)
            {
                chw[(c * plane) + p] = normalization.Normalize(image.Pixels[(p * 3) + c], c);
            }
        }

        return tensor(chw, [1, 3, image.Height, image.Width]);
    }

    [TestMethod]
    public void ImageNetClassifier_ReproducesReferenceTop5()
    {
        string modelJson = ModelJson();
        string fixtures = TestData.RequireShared("fixtures", "mobilenet");
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, "expected.json")));
        using var net = TfjsImport.LoadMobileNetV1(modelJson, outputStride: 32, includeClassifier: true);
        net.eval();
        Assert.AreEqual(0.75, net.Alpha);
        Assert.AreEqual(1000, net.Classes);

        int images = 0;
        double worst = 0;
        foreach (var entry in expected.RootElement.GetProperty("images").EnumerateObject())
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var image = ImageCodec.Decode(Path.Combine(fixtures, entry.Name));
            var probabilities = Floats(net.Classify(ToInput(image, net.Normalization)));
            Assert.AreEqual(1000, probabilities.Length);
            Assert.AreEqual(1.0, probabilities.Sum(), 1e-4);

            int[] top5 = Enumerable.Range(0, probabilities.Length).OrderByDescending(i => probabilities[i]).Take(5).ToArray();
            int[] expectedTop5 = entry.Value.GetProperty("top5_index").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            double[] expectedProbabilities = entry.Value.GetProperty("top5_prob").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            CollectionAssert.AreEqual(expectedTop5, top5, $"{entry.Name}: top-5 classes");
            for (int k = 0; k < 5; k++)
            {
                Assert.AreEqual(expectedProbabilities[k], probabilities[expectedTop5[k]], 2e-3, $"{entry.Name}: probability of class {expectedTop5[k]}");
                worst = Math.Max(worst, Math.Abs(expectedProbabilities[k] - probabilities[expectedTop5[k]]));
            }

            images++;
        }

        Assert.AreEqual(4, images);
        Console.WriteLine($"largest top-5 probability difference from the reference: {worst:E2}");
    }

    [TestMethod]
    public void DilatedOutputStrides_ClassifyLikeTheOriginalNetwork()
    {
        // The atrous conversion (strides removed, later depthwise convolutions dilated) is not exact, but the
        // ImageNet weights must still recognise the same things: the reference's top-3 classes stay the top 3
        // (in any order) at output strides 16 and 8. A wrong dilation or padding rule scrambles them.
        string modelJson = ModelJson();
        string fixtures = TestData.RequireShared("fixtures", "mobilenet");
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, "expected.json")));
        foreach (int outputStride in new[] { 16, 8 })
        {
            using var net = TfjsImport.LoadMobileNetV1(modelJson, outputStride, includeClassifier: true);
            net.eval();
            foreach (var entry in expected.RootElement.GetProperty("images").EnumerateObject())
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var probabilities = Floats(net.Classify(ToInput(ImageCodec.Decode(Path.Combine(fixtures, entry.Name)), net.Normalization)));
                int[] top3 = Enumerable.Range(0, probabilities.Length).OrderByDescending(i => probabilities[i]).Take(3).Order().ToArray();
                int[] expectedTop3 = entry.Value.GetProperty("top5_index").EnumerateArray().Take(3).Select(e => e.GetInt32()).Order().ToArray();
                CollectionAssert.AreEqual(expectedTop3, top3, $"output stride {outputStride}, {entry.Name}");
            }
        }
    }

    [TestMethod]
    public void ImportAtOutputStride8_KeepsWeightsAndDilates()
    {
        using var scope = NewDisposeScope();
        using var os8 = TfjsImport.LoadMobileNetV1(ModelJson());
        Assert.IsTrue(os8.FrozenBatchNorm);
        Assert.AreEqual(0, os8.Classes);
        var weights = TfjsImport.KerasWeights(Wsss.Model.Serialization.TfjsLayersModel.Load(ModelJson()));
        foreach (var (name, value) in os8.state_dict().Where(kv => !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal)))
        {
            CollectionAssert.AreEqual(weights[name].Data, Floats(value), name);
        }

        os8.eval();
        using var noGrad = no_grad();
        CollectionAssert.AreEqual(new long[] { 1, 768, 28, 28 }, os8.forward(randn([1, 3, 224, 224])).shape);
    }

    [TestMethod]
    public void KernelConversion_MovesChannelsLastToPyTorchLayout()
    {
        // Each source value encodes its own [y, x, i, o] index, so every target slot can be checked.
        static float Code(long y, long x, long i, long o) => (1000 * y) + (100 * x) + (10 * i) + o;
        long[] shape = [3, 2, 4, 5];
        var source = new float[3 * 2 * 4 * 5];
        for (long y = 0, k = 0; y < 3; y++)
        {
            for (long x = 0; x < 2; x++)
            {
                for (long i = 0; i < 4; i++)
                {
                    for (long o = 0; o < 5; o++)
                    {
                        source[k++] = Code(y, x, i, o);
                    }
                }
            }
        }

        var (conv, convShape) = TfjsImport.ConvKernel(source, shape);
        CollectionAssert.AreEqual(new long[] { 5, 4, 3, 2 }, convShape);
        Assert.AreEqual(Code(2, 1, 3, 4), conv[(((4 * 4) + 3) * 3 + 2) * 2 + 1]);
        Assert.AreEqual(Code(1, 0, 2, 3), conv[(((3 * 4) + 2) * 3 + 1) * 2 + 0]);

        // Depthwise: [kh, kw, in=4, multiplier=5] -> [20, 1, kh, kw]; output channel i * 5 + m.
        var (depthwise, depthwiseShape) = TfjsImport.DepthwiseKernel(source, shape);
        CollectionAssert.AreEqual(new long[] { 20, 1, 3, 2 }, depthwiseShape);
        Assert.AreEqual(Code(2, 1, 3, 4), depthwise[(((3 * 5) + 4) * 3 + 2) * 2 + 1]);
        Assert.AreEqual(Code(0, 1, 1, 2), depthwise[(((1 * 5) + 2) * 3 + 0) * 2 + 1]);
    }
}
