using TorchSharp;
using Wsss.Engine;
using Wsss.Imaging;
using Wsss.Model;
using Wsss.Model.Serialization;
using Wsss.Onnx;
using Wsss.Seeds;
using static TorchSharp.torch;

namespace Wsss.Inference;

/// <summary>
/// A trained RRM network with what is needed to use it: class names, input normalisation, backbone kind.
/// Saved as one safetensors file (<see cref="Save"/>, <see cref="Load"/>). <see cref="Predict(RgbImage, PredictionOptions?)"/>
/// may be called from many threads at once.
/// </summary>
public sealed class SegmentationModel : IDisposable
{
    private bool disposed;

    internal SegmentationModel(RrmNetwork network, ModelFileMetadata metadata, Device device)
    {
        Network = network;
        Metadata = metadata;
        Device = device;
        TrainingMaxImageSide = ReadMaxImageSide(metadata.TrainingOptionsJson);
        network.eval();
    }

    /// <summary>
    /// The longer image side the model was trained at (<see cref="Training.RrmTrainingOptions.MaxImageSide"/>), which
    /// <see cref="PredictionOptions.MaxImageSide"/> takes by default; 0 when it trained on images as they were (and for
    /// model files written before the option existed).
    /// </summary>
    public int TrainingMaxImageSide { get; }

    /// <summary>Foreground class names; mask value c + 1 is class c, 0 is background.</summary>
    public IReadOnlyList<string> ClassNames => Metadata.ClassNames;

    /// <summary>The backbone the network was built on.</summary>
    public BackboneKind Backbone => Metadata.Backbone;

    /// <summary>Device the network runs on (TorchSharp's).</summary>
    public Device Device { get; }

    /// <summary>The metadata stored in the model file.</summary>
    public ModelFileMetadata Metadata { get; }

    /// <summary>
    /// The trained network, a TorchSharp module in evaluation mode. Use it to fine-tune or to compose with your own
    /// TorchSharp code; it stays owned by this model (disposed with it).
    /// </summary>
    public RrmNetwork Network { get; }

    /// <summary>Writes the model atomically to <paramref name="path"/> (one safetensors file readable by Python's safetensors).</summary>
    public void Save(string path)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ModelFile.Save(path, Metadata, ExportTensors(Network));
    }

    /// <summary>
    /// Writes the segmentation branch's inference graph as an ONNX model (atomically): backbone, segmentation head,
    /// bilinear upsampling to the input size and softmax, the single-scale probabilities that
    /// <see cref="Predict(RgbImage, PredictionOptions?)"/> computes without CRF, with dynamic height and width. The class
    /// names and the input normalisation go into the model's metadata_props ("wsss.class_names",
    /// "wsss.input_normalization", ...). Written with OnnxSharp's ONNX types; run it with ONNX Runtime or ML.NET's
    /// ApplyOnnxModel (docs/MLNET.md).
    /// </summary>
    /// <param name="path">The .onnx file to write.</param>
    /// <param name="options">Input format, CAM output, opset, batch; null uses <see cref="OnnxExportOptions.Default"/>.</param>
    /// <exception cref="NotSupportedException">The network's backbone has no exporter (the message names it and the exportable ones).</exception>
    /// <exception cref="ArgumentException">Invalid options.</exception>
    public void ExportOnnx(string path, OnnxExportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ObjectDisposedException.ThrowIf(disposed, this);
        var model = OnnxExporter.Build(Network, Metadata, options ?? OnnxExportOptions.Default);
        OnnxExporter.Write(model, path);
    }

    /// <summary>Loads a model file onto <paramref name="device"/> (default: the CPU).</summary>
    /// <exception cref="FileFormatException">The file is not a Wsss model, is damaged, comes from another format version, or its tensors do not fit the architecture it names.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SegmentationModel Load(string path, Device? device = null)
    {
        Device d = device ?? Devices.Cpu;
        Devices.EnsureAvailable(d);
        ModelFile file = ModelFile.Load(path);
        var metadata = file.Metadata;
        CheckSizeBeforeBuilding(path, file);
        RrmNetwork network;
        try
        {
            network = new RrmNetwork(BuildBackbone(file), metadata.ClassNames.Count);
        }
        catch (ArgumentException e)
        {
            // A width the architecture does not take (SmallCnn at 2, MobileNetV1 at 0.01) is a fault of the file.
            throw new FileFormatException(path, null, $"its metadata names no buildable network ({metadata.Backbone}, width {metadata.BackboneWidth}): {e.Message}", e);
        }

        try
        {
            var weights = ModelWeights.FromTensors(file.Tensors);
            ModelWeights.Load(network, weights);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            network.Dispose();
            throw new FileFormatException(path, null, $"its tensors do not fit a {metadata.Backbone} network with {metadata.ClassNames.Count} classes: {e.Message}");
        }

        network.to(d);
        return new SegmentationModel(network, metadata, d);
    }

    /// <summary>
    /// The network is built from the metadata before its weights are compared with the file's, so the sizes that
    /// metadata implies are checked against the file's own tensors first: a damaged width (MobileNetV1 at 1000) or
    /// class count would otherwise build gigabytes of parameters from a small file.
    /// </summary>
    private static void CheckSizeBeforeBuilding(string path, ModelFile file)
    {
        var m = file.Metadata;
        if (file.TryGetTensor("classifier.weight", out var classifier) && (classifier.Shape.Length == 0 || classifier.Shape[0] != m.ClassNames.Count))
        {
            throw new FileFormatException(path, "tensor", "classifier.weight",
                $"shape [{string.Join(", ", classifier.Shape)}] does not fit the {m.ClassNames.Count} classes of its metadata");
        }

        if (m.Backbone == BackboneKind.MobileNetV1)
        {
            // The widest layer, conv_pw_13, has floor(1024 x width) filters (Keras' rule, as MobileNetV1 builds it).
            long filters = (long)(1024 * m.BackboneWidth);
            if (!file.TryGetTensor("backbone.conv_pw_13.weight", out var last) || last.Shape.Length == 0 || last.Shape[0] != filters)
            {
                throw new FileFormatException(path, "tensor", "backbone.conv_pw_13.weight",
                    $"is missing or does not have the {filters} filters of MobileNetV1 at width {m.BackboneWidth} that the metadata names");
            }
        }

        if (m.Backbone == BackboneKind.ResNet18 && ResNet.BlocksFromNames(TensorNames(file), "backbone.") is { } blocks)
        {
            // The block counts come from the tensor names; every block they imply must hold its own weights in the file
            // (a name such as "backbone.layer4.99999.x" alone would otherwise build a hundred thousand blocks).
            for (int s = 0; s < blocks.Length; s++)
            {
                long planes = 64L << s;
                for (int b = 0; b < blocks[s]; b++)
                {
                    string name = $"backbone.layer{s + 1}.{b}.conv2.weight";
                    if (!file.TryGetTensor(name, out var conv) || !conv.Shape.SequenceEqual([planes, planes, 3L, 3L]))
                    {
                        throw new FileFormatException(path, "tensor", name,
                            $"is missing or is not the [{planes}, {planes}, 3, 3] weight of the block that the file's tensor names imply ({string.Join("-", blocks)} blocks)");
                    }
                }
            }
        }
    }

    /// <summary>
    /// The backbone the metadata names. A ResNet-18 trained from ML.NET's ONNX weights has one block more in layer4 than
    /// torchvision's: the tensors say which (<see cref="CheckSizeBeforeBuilding"/> has checked that they hold every block).
    /// </summary>
    /// <exception cref="ArgumentException">The metadata names no buildable network (a width the architecture does not take).</exception>
    private static Backbone BuildBackbone(ModelFile file)
    {
        var m = file.Metadata;
        var blocks = m.Backbone == BackboneKind.ResNet18 ? ResNet.BlocksFromNames(TensorNames(file), "backbone.") : null;
        if (blocks is null)
        {
            return Backbones.Create(m.Backbone, m.BackboneWidth);
        }

        if (m.BackboneWidth != 1.0)
        {
            throw new ArgumentException($"{m.Backbone} has no width multiplier (got {m.BackboneWidth}).", nameof(file));
        }

        return new ResNet18(blocks: blocks, normalization: m.Normalization);
    }

    private static IEnumerable<string> TensorNames(ModelFile file) => file.Tensors.Select(t => t.Name);

    /// <summary>Segments an image file.</summary>
    public SegmentationResult Predict(string imagePath, PredictionOptions? options = null) => Predict(ImageCodec.Decode(imagePath), options);

    /// <summary>Segments encoded image bytes (JPEG, PNG...).</summary>
    public SegmentationResult Predict(ReadOnlySpan<byte> encodedImage, PredictionOptions? options = null) => Predict(ImageCodec.Decode(encodedImage), options);

    /// <summary>
    /// Segments an RGB image: class probabilities at each scale (and flipped, if asked), upsampled to the
    /// image size and averaged, optionally refined by a dense CRF, then the most probable class per pixel.
    /// </summary>
    public SegmentationResult Predict(RgbImage image, PredictionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= PredictionOptions.Default;
        options.Validate();
        if (WorkingSize(image, options.MaxImageSide) is { } size)
        {
            return Upscaled(Predict(image.Resize(size.Height, size.Width, ResizeMode.Area), options.AtGivenSize()), image.Height, image.Width);
        }

        float[] probabilities = Probabilities(image, options);
        return Finish(image, probabilities, options);
    }

    /// <summary>
    /// The pseudo mask of the two-step variant (spec section 8) for an image whose image-level labels are
    /// known: <see cref="Predict(RgbImage, PredictionOptions?)"/>'s averaged probabilities with every class
    /// absent from <paramref name="labels"/> set to 0 (background always stays) and the rest renormalised,
    /// then the dense CRF (over the remaining classes, so it cannot bring an absent class back) and the argmax.
    /// A training image therefore never gets a class its label denies. With <see cref="PredictionOptions.CamWeight"/>
    /// above 0 the probabilities are mixed with (or, at 1, replaced by) CAM probabilities first.
    /// </summary>
    /// <param name="image">The training image.</param>
    /// <param name="labels">Its 0-based foreground classes (as <see cref="Data.LabelledImage.Labels"/>).</param>
    /// <param name="options">Scales, flip and CRF; null means single scale with the inference CRF
    /// (<see cref="PredictionOptions.UseCrf"/> is honoured as given when options are passed).</param>
    /// <exception cref="ArgumentOutOfRangeException">A label is not a class of this model.</exception>
    public SegmentationResult PseudoMask(RgbImage image, IReadOnlyList<int> labels, PredictionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= new PredictionOptions { UseCrf = true };
        bool[] keep = PresentWithBackground(labels);
        options.Validate();
        if (WorkingSize(image, options.MaxImageSide) is { } size)
        {
            return Upscaled(PseudoMask(image.Resize(size.Height, size.Width, ResizeMode.Area), labels, options.AtGivenSize()), image.Height, image.Width);
        }

        int plane = image.Height * image.Width;
        float[] probabilities;
        if (options.CamWeight > 0)
        {
            float[] cam = CamProbabilities(ClassActivationMaps(image, labels, options.CamScales), keep, plane, options.CamBackgroundThreshold, options.CamBackgroundPower);
            if (options.CamWeight < 1)
            {
                probabilities = Probabilities(image, options);
                float w = (float)options.CamWeight, v = 1f - w;
                for (int i = 0; i < cam.Length; i++)
                {
                    // The segmentation probabilities of absent classes are zeroed below; mixing first is the same.
                    cam[i] = (v * probabilities[i]) + (w * cam[i]);
                }
            }

            probabilities = cam;
        }
        else
        {
            probabilities = Probabilities(image, options);
        }

        return RestrictedMask(image, keep, probabilities, options);
    }

    /// <summary>
    /// <see cref="PseudoMask"/>'s last steps on given probabilities ((C + 1) x H x W, overwritten): absent classes
    /// zeroed, the rest renormalised, the CRF over the kept labels if asked, the argmax.
    /// </summary>
    internal SegmentationResult RestrictedMask(RgbImage image, bool[] keep, float[] probabilities, PredictionOptions options)
    {
        int plane = image.Height * image.Width;
        for (int i = 0; i < plane; i++)
        {
            float sum = 0;
            for (int c = 0; c < keep.Length; c++)
            {
                int at = (c * plane) + i;
                if (!keep[c])
                {
                    probabilities[at] = 0;
                }

                sum += probabilities[at];
            }

            if (sum > 0)
            {
                for (int c = 0; c < keep.Length; c++)
                {
                    probabilities[(c * plane) + i] /= sum;
                }
            }
            else
            {
                // All surviving classes underflowed: background is the only safe answer.
                probabilities[i] = 1;
            }
        }

        return Finish(image, probabilities, options, keep);
    }

    /// <summary>
    /// CAM probabilities ((C + 1) x H x W, background first) from normalised CAMs (C x H x W, as
    /// <see cref="ClassActivationMaps"/> returns them): background t (or (1 - max_c CAM_c)^power when power &gt; 0), each
    /// class of <paramref name="keep"/> its CAM, absent classes 0, then divided by the pixel's sum. Their argmax with a
    /// constant t is the CAM baseline's mask at threshold t.
    /// </summary>
    internal static float[] CamProbabilities(float[] cams, bool[] keep, int plane, double threshold, double power)
    {
        int k = keep.Length;
        if (cams.Length != (k - 1) * plane)
        {
            throw new ArgumentException($"expected {(k - 1) * plane} CAM values, got {cams.Length}.", nameof(cams));
        }

        var p = new float[k * plane];
        for (int i = 0; i < plane; i++)
        {
            float max = 0;
            for (int c = 1; c < k; c++)
            {
                if (keep[c])
                {
                    float v = Math.Clamp(cams[((c - 1) * plane) + i], 0f, 1f);
                    p[(c * plane) + i] = v;
                    max = Math.Max(max, v);
                }
            }

            float bg = power > 0 ? (float)Math.Pow(1.0 - max, power) : (float)threshold;
            p[i] = bg;
            float sum = bg;
            for (int c = 1; c < k; c++)
            {
                sum += p[(c * plane) + i];
            }

            if (sum > 0)
            {
                float inv = 1f / sum;
                for (int c = 0; c < k; c++)
                {
                    p[(c * plane) + i] *= inv;
                }
            }
            else
            {
                p[i] = 1f;
            }
        }

        return p;
    }

    /// <summary>
    /// The normalised multi-scale class activation maps of spec section 2 for one image, in evaluation mode:
    /// CAMs at scale 1 and <paramref name="scales"/> averaged, upsampled to the image size, zeroed for classes
    /// absent from <paramref name="labels"/>, each divided by its maximum (+1e-5), so values lie in [0, 1].
    /// </summary>
    /// <param name="image">The image.</param>
    /// <param name="labels">0-based foreground classes present in the image; the other maps are all zero.</param>
    /// <param name="scales">Extra scales besides 1; null uses the training default (0.5, 1.5, 2.0).</param>
    /// <returns>C x H x W values (C = <see cref="ClassNames"/>.Count, H x W the image size), class-major.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A label is not a class of this model.</exception>
    public float[] ClassActivationMaps(RgbImage image, IReadOnlyList<int> labels, IReadOnlyList<double>? scales = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ObjectDisposedException.ThrowIf(disposed, this);
        bool[] keep = PresentWithBackground(labels);
        int classes = ClassNames.Count;
        var multiHot = new float[classes];
        for (int c = 0; c < classes; c++)
        {
            multiHot[c] = keep[c + 1] ? 1f : 0f;
        }

        using (no_grad())
        using (NewDisposeScope())
        {
            var input = ImageTensors.ToTensor([image], Metadata.Normalization, Device);
            var labelTensor = tensor(multiHot, [1, classes], device: Device);
            return Network.MultiScaleCam(input, labelTensor, null, scales ?? RrmNetwork.DefaultCamScales).ToArrayFast<float>();
        }
    }

    /// <summary>
    /// RRM's reliable seeds (spec section 3) for one image: <see cref="ClassActivationMaps"/> pruned by two
    /// dense CRFs and the confidence rules of <see cref="Wsss.Seeds.ReliableSeeds"/>. Mask values: 0
    /// background, c + 1 class c, 255 (<see cref="SegmentationMask.Ignore"/>) unreliable.
    /// </summary>
    /// <param name="image">The image.</param>
    /// <param name="labels">0-based foreground classes present in the image.</param>
    /// <param name="options">Pruning settings; null uses the reference's.</param>
    /// <param name="threads">Threads for the CRFs; 0 = all cores.</param>
    /// <param name="maxImageSide">Longer side to compute the seeds at, as <see cref="PredictionOptions.MaxImageSide"/>
    /// (the mask is scaled back to the image's size, nearest); null takes <see cref="TrainingMaxImageSide"/>.</param>
    public SegmentationMask ReliableSeeds(RgbImage image, IReadOnlyList<int> labels, ReliableSeedOptions? options = null, int threads = 0, int? maxImageSide = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfNegative(maxImageSide ?? 0, nameof(maxImageSide));
        if (WorkingSize(image, maxImageSide) is { } size)
        {
            return UpscaledMask(ReliableSeeds(image.Resize(size.Height, size.Width, ResizeMode.Area), labels, options, threads, 0), image.Height, image.Width);
        }

        float[] cams = ClassActivationMaps(image, labels);
        var present = new byte[ClassNames.Count];
        foreach (int c in labels)
        {
            present[c] = 1;
        }

        // One engine per call: the engine serialises its callers, and concurrent predictions should not queue.
        using var engine = new Seeds.ReliableSeeds(options, threads);
        return new SegmentationMask(image.Height, image.Width, engine.Compute(image, present, cams));
    }

    /// <summary>Frees the network.</summary>
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            Network.Dispose();
        }
    }

    internal float[] Probabilities(RgbImage image, PredictionOptions options)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        options.Validate();
        int h = image.Height, w = image.Width;
        using (no_grad())
        using (NewDisposeScope())
        {
            var input = ImageTensors.ToTensor([image], Metadata.Normalization, Device);
            Tensor? sum = null;
            int count = 0;
            foreach (double s in options.Scales)
            {
                long sh = Math.Max(1, (long)(h * s)), sw = Math.Max(1, (long)(w * s));
                var scaled = s == 1.0 ? input : nn.functional.interpolate(input, [sh, sw], mode: InterpolationMode.Bilinear, align_corners: false);
                foreach (bool flip in options.Flip ? new[] { false, true } : [false])
                {
                    var x = flip ? scaled.flip(3) : scaled;
                    var logits = Network.ForwardSegmentation(x);
                    var p = nn.functional.softmax(nn.functional.interpolate(logits, [h, w], mode: InterpolationMode.Bilinear, align_corners: false), 1);
                    if (flip)
                    {
                        p = p.flip(3);
                    }

                    sum = sum is null ? p : sum.Plus(p);
                    count++;
                }
            }

            if (count == 1)
            {
                return sum!.ToArrayFast<float>();
            }

            return sum!.DividedBy(count).ToArrayFast<float>();
        }
    }

    /// <summary>The size to segment <paramref name="image"/> at when it is not its own (<see cref="PredictionOptions.MaxImageSide"/>; null: the training size).</summary>
    private (int Height, int Width)? WorkingSize(RgbImage image, int? maxImageSide)
    {
        var size = ImageResize.FitWithin(image.Height, image.Width, maxImageSide ?? TrainingMaxImageSide);
        return size == (image.Height, image.Width) ? null : size;
    }

    /// <summary>A result at the working size scaled back to the image's, nearest (the argmax of the scaled probabilities is the scaled mask).</summary>
    private static SegmentationResult Upscaled(SegmentationResult small, int height, int width)
    {
        int plane = small.Height * small.Width;
        var mask = UpscaledMask(small.Mask, height, width);
        float[]? probabilities = small.Probabilities is { } p
            ? ImageResize.NearestPlanes<float>(p, p.Length / plane, small.Height, small.Width, height, width)
            : null;
        return new SegmentationResult(mask, probabilities);
    }

    private static SegmentationMask UpscaledMask(SegmentationMask small, int height, int width) =>
        new(height, width, ImageResize.NearestPlanes<byte>(small.Labels, 1, small.Height, small.Width, height, width));

    private static int ReadMaxImageSide(string? trainingOptionsJson)
    {
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(string.IsNullOrEmpty(trainingOptionsJson) ? "{}" : trainingOptionsJson);
            return json.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && json.RootElement.TryGetProperty(nameof(Training.RrmTrainingOptions.MaxImageSide), out var v)
                && v.TryGetInt32(out int side) && side > 0 ? side : 0;
        }
        catch (System.Text.Json.JsonException)
        {
            // The metadata reader validates this JSON; a model built in memory with odd metadata just keeps sizes.
            return 0;
        }
    }

    private SegmentationResult Finish(RgbImage image, float[] probabilities, PredictionOptions options, bool[]? keep = null)
    {
        int k = ClassNames.Count + 1, plane = image.Height * image.Width;
        int[] kept = keep is null ? Enumerable.Range(0, k).ToArray() : Enumerable.Range(0, k).Where(c => keep[c]).ToArray();
        float[] compact = probabilities;
        if (kept.Length < k)
        {
            // The CRF runs over the surviving labels only, so message passing cannot revive an absent class.
            compact = new float[kept.Length * plane];
            for (int j = 0; j < kept.Length; j++)
            {
                Array.Copy(probabilities, kept[j] * plane, compact, j * plane, plane);
            }
        }

        if (options.UseCrf)
        {
            using var crf = new DenseCrf(options.Crf);
            compact = crf.Infer(image, compact, kept.Length);
        }

        var mask = new SegmentationMask(image.Height, image.Width);
        Argmax(compact, kept.Length, mask.Labels);
        if (kept.Length < k)
        {
            for (int i = 0; i < plane; i++)
            {
                mask.Labels[i] = (byte)kept[mask.Labels[i]];
            }
        }

        if (!options.IncludeProbabilities)
        {
            return new SegmentationResult(mask, null);
        }

        if (kept.Length < k)
        {
            var full = new float[k * plane];
            for (int j = 0; j < kept.Length; j++)
            {
                Array.Copy(compact, j * plane, full, kept[j] * plane, plane);
            }

            compact = full;
        }

        return new SegmentationResult(mask, compact);
    }

    /// <summary>Which of the C + 1 labels (background first) survive for an image labelled <paramref name="labels"/>.</summary>
    internal bool[] PresentWithBackground(IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var keep = new bool[ClassNames.Count + 1];
        keep[0] = true;
        foreach (int c in labels)
        {
            if (c < 0 || c >= ClassNames.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(labels), c, $"Class index {c} is not one of this model's {ClassNames.Count} classes.");
            }

            keep[c + 1] = true;
        }

        return keep;
    }

    internal static IEnumerable<TensorData> ExportTensors(RrmNetwork network)
    {
        foreach (var (name, t) in network.state_dict())
        {
            using var cpu = t.detach().cpu().contiguous();
            if (cpu.dtype == ScalarType.Int64)
            {
                yield return TensorData.FromInt64s(name, cpu.shape, cpu.ToArrayFast<long>());
            }
            else
            {
                using var single = cpu.to(ScalarType.Float32);
                yield return TensorData.FromFloats(name, cpu.shape, single.ToArrayFast<float>());
            }
        }
    }

    private static void Argmax(float[] probabilities, int classes, byte[] labels)
    {
        int plane = labels.Length;
        for (int i = 0; i < plane; i++)
        {
            int best = 0;
            float bestValue = probabilities[i];
            for (int c = 1; c < classes; c++)
            {
                float v = probabilities[(c * plane) + i];
                if (v > bestValue)
                {
                    bestValue = v;
                    best = c;
                }
            }

            labels[i] = (byte)best;
        }
    }
}
