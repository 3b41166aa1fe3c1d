using Wsss.Torch;
using Wsss.Torch.Nn;
using Wsss.Torch.Optim;

namespace Wsss.Model;

/// <summary>The three outputs of <see cref="RrmNetwork.Forward"/>; disposing it disposes them.</summary>
public sealed class RrmOutput : IDisposable
{
    internal RrmOutput(Tensor classLogits, Tensor cam, Tensor segmentationLogits)
    {
        ClassLogits = classLogits;
        Cam = cam;
        SegmentationLogits = segmentationLogits;
    }

    /// <summary>Image-level class logits (N, C).</summary>
    public Tensor ClassLogits { get; }

    /// <summary>Class activation maps (N, C, h, w) at feature resolution, with gradients.</summary>
    public Tensor Cam { get; }

    /// <summary>Segmentation logits (N, C + 1, h, w) at feature resolution, background first.</summary>
    public Tensor SegmentationLogits { get; }

    /// <summary>Disposes the three tensors.</summary>
    public void Dispose()
    {
        ClassLogits.Dispose();
        Cam.Dispose();
        SegmentationLogits.Dispose();
    }
}

/// <summary>
/// RRM's network (spec section 1): one backbone at output stride 8 feeding a classification branch
/// (whose weights give the CAMs) and a segmentation branch. State-dict names: "backbone.*",
/// "classifier.weight", "segmentation.conv1.weight", "segmentation.conv1.bias",
/// "segmentation.conv2.weight", "segmentation.conv2.bias".
/// </summary>
public sealed class RrmNetwork : Module
{
    /// <summary>Creates the network around <paramref name="backbone"/>, which it owns from now on.</summary>
    /// <param name="backbone">Feature extractor.</param>
    /// <param name="classes">Foreground classes C (the segmentation branch has C + 1 outputs).</param>
    /// <param name="classifierDropout">Dropout2d rate of the classification branch. Default 0.5.</param>
    public RrmNetwork(Backbone backbone, int classes, double classifierDropout = 0.5)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        Classes = classes;
        Backbone = RegisterModule("backbone", backbone);
        Classifier = RegisterModule("classifier", new ClassificationHead(backbone.OutputChannels, classes, classifierDropout));
        Segmentation = RegisterModule("segmentation", new SegmentationHead(backbone.OutputChannels, classes + 1));
    }

    /// <summary>Scales of the extra CAM-only forwards of <see cref="MultiScaleCam"/> (0.5, 1.5, 2.0; scale 1 is the main forward).</summary>
    public static IReadOnlyList<double> DefaultCamScales { get; } = [0.5, 1.5, 2.0];

    /// <summary>Foreground classes C.</summary>
    public int Classes { get; }

    /// <summary>The feature extractor.</summary>
    public Backbone Backbone { get; }

    /// <summary>The classification branch (also the CAM weights).</summary>
    public ClassificationHead Classifier { get; }

    /// <summary>The segmentation branch.</summary>
    public SegmentationHead Segmentation { get; }

    /// <summary>Runs both branches on normalised images (N, 3, H, W).</summary>
    public RrmOutput Forward(Tensor images)
    {
        Tensor input = CpuChannelsLast(images);
        try
        {
            using var features = Backbone.Forward(input);
            return new RrmOutput(Classifier.Logits(features), Classifier.Cam(features), Segmentation.Forward(features));
        }
        finally
        {
            DisposeIfNew(input, images);
        }
    }

    /// <summary>The CAMs (N, C, h, w) only, at feature resolution (no segmentation branch).</summary>
    public Tensor ForwardCam(Tensor images)
    {
        Tensor input = CpuChannelsLast(images);
        try
        {
            using var features = Backbone.Forward(input);
            return Classifier.Cam(features);
        }
        finally
        {
            DisposeIfNew(input, images);
        }
    }

    // On the CPU, oneDNN runs NHWC convolutions without reordering each layer's input and output to its
    // blocked layout and back: MobileNetV1 0.75 forward at 4 x 321 x 321 took about half the time (same
    // values). Outputs stay channels-last; reading them (CopyTo, ToArray) makes them contiguous.
    private static Tensor CpuChannelsLast(Tensor images) =>
        images.Device.Type == DeviceType.Cpu && images.Dimensions == 4 && images.DType == DType.Float32
            ? images.ToChannelsLast()
            : images;

    private static void DisposeIfNew(Tensor input, Tensor images)
    {
        if (!ReferenceEquals(input, images))
        {
            input.Dispose();
        }
    }

    /// <summary>
    /// The training-time CAM of spec section 2: the scale-1 CAM averaged with CAM-only forwards at
    /// <paramref name="scales"/> (input resized bilinearly to int(H*s) x int(W*s), each CAM resized back to
    /// the scale-1 CAM's size), upsampled bilinearly to (H, W), zeroed for classes absent from
    /// <paramref name="labels"/>, and divided per image and class by its maximum + 1e-5, so values lie in
    /// [0, 1]. The extra forwards run without gradients in the network's current mode (as the reference,
    /// whose backbone dropout stays active in training). Returns (N, C, H, W) without gradient history.
    /// </summary>
    /// <param name="images">The normalised batch (N, 3, H, W) given to <see cref="Forward"/>.</param>
    /// <param name="labels">Image-level labels (N, C), 1 for present classes and 0 for absent ones.</param>
    /// <param name="cam1">The scale-1 CAM from <see cref="Forward"/> on the same images (detached here);
    /// null computes it.</param>
    /// <param name="scales">Extra scales; null uses <see cref="DefaultCamScales"/>.</param>
    /// <exception cref="ArgumentException">The labels do not have shape (N, C).</exception>
    public Tensor MultiScaleCam(Tensor images, Tensor labels, Tensor? cam1 = null, IReadOnlyList<double>? scales = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        long n = images.Size(0);
        long height = images.Size(2);
        long width = images.Size(3);
        if (labels.Dimensions != 2 || labels.Size(0) != n || labels.Size(1) != Classes)
        {
            throw new ArgumentException($"labels must have shape ({n}, {Classes}), got ({string.Join(", ", labels.Shape.ToArray())}).", nameof(labels));
        }

        scales ??= DefaultCamScales;
        using var scope = Torch.Torch.NewDisposeScope();
        using var noGrad = Torch.Torch.NoGrad();
        // CAM-only forwards run in the network's mode, as the reference's; a backbone that trains its
        // BatchNorm (SmallCnn; the reference freezes it) must not fold these rescaled batches into the running
        // statistics that inference uses.
        var trained = Backbone.NamedModules().Select(m => m.Value).OfType<BatchNorm2d>().Where(bn => !bn.Frozen).ToList();
        trained.ForEach(bn => bn.TrackRunningStatistics = false);
        try
        {
            return CamAverage(images, labels, cam1, scales, n, height, width).MoveToOuterScope();
        }
        finally
        {
            trained.ForEach(bn => bn.TrackRunningStatistics = true);
        }
    }

    private Tensor CamAverage(Tensor images, Tensor labels, Tensor? cam1, IReadOnlyList<double> scales, long n, long height, long width)
    {
        Tensor baseCam = cam1 is null ? ForwardCam(images) : cam1.Detach();
        long camHeight = baseCam.Size(2);
        long camWidth = baseCam.Size(3);
        Tensor sum = baseCam;
        foreach (double s in scales)
        {
            if (!(s > 0) || !double.IsFinite(s))
            {
                throw new ArgumentException($"CAM scales must be positive, got {s}.", nameof(scales));
            }

            // Truncation, as Python's int(H * s) in the reference.
            long h = Math.Max(1, (long)(height * s));
            long w = Math.Max(1, (long)(width * s));
            var resized = Functional.Interpolate(images, h, w, InterpolationMode.Bilinear);
            var cam = ForwardCam(resized);
            sum = sum + Functional.Interpolate(cam, camHeight, camWidth, InterpolationMode.Bilinear);
        }

        var mean = sum / (scales.Count + 1);
        var upsampled = Functional.Interpolate(mean, height, width, InterpolationMode.Bilinear);
        var mask = labels.To(DType.Float32, upsampled.Device).Reshape(n, Classes, 1, 1);
        var masked = upsampled * mask;
        var peak = masked.Amax([2, 3], keepDim: true);
        return masked / (peak + 1e-5);
    }

    /// <summary>
    /// The four SGD groups of spec section 6, over the parameters that require gradients: backbone weights
    /// (learning rate x1, <paramref name="weightDecay"/>), backbone biases (x2, no decay), new-layer weights
    /// (x10, <paramref name="weightDecay"/>), new-layer biases (x20, no decay). Frozen BatchNorm parameters do
    /// not require gradients and so belong to no group; a trained BatchNorm's scale and shift count as a
    /// weight and a bias. The order is fixed (optimiser checkpoints index groups); a group may be empty.
    /// </summary>
    /// <param name="weightDecay">Decay of the two weight groups. Default 1e-5 (the reference's).</param>
    /// <param name="backboneLearningRateFactor">
    /// Extra factor on both backbone groups (x1 and x2 become x f and x 2f); 0 keeps the backbone fixed. Default 1
    /// (the reference).
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A negative or non-finite factor or decay.</exception>
    public ParameterGroup[] ParameterGroups(double weightDecay = 1e-5, double backboneLearningRateFactor = 1.0)
    {
        if (!double.IsFinite(backboneLearningRateFactor) || backboneLearningRateFactor < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(backboneLearningRateFactor), backboneLearningRateFactor, "The backbone learning-rate factor must be finite and >= 0.");
        }

        if (!double.IsFinite(weightDecay) || weightDecay < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "The weight decay must be finite and >= 0.");
        }

        var (backboneWeights, backboneBiases) = Split(Backbone.NamedParameters());
        var (headWeights, headBiases) = Split(Classifier.NamedParameters().Concat(Segmentation.NamedParameters()));
        return
        [
            new ParameterGroup("backbone.weight", backboneWeights, backboneLearningRateFactor, weightDecay),
            new ParameterGroup("backbone.bias", backboneBiases, 2 * backboneLearningRateFactor, 0),
            new ParameterGroup("head.weight", headWeights, 10, weightDecay),
            new ParameterGroup("head.bias", headBiases, 20, 0),
        ];
    }

    private static (List<Tensor> Weights, List<Tensor> Biases) Split(IEnumerable<KeyValuePair<string, Tensor>> parameters)
    {
        var weights = new List<Tensor>();
        var biases = new List<Tensor>();
        foreach (var (name, p) in parameters)
        {
            if (!p.RequiresGrad)
            {
                continue;
            }

            (name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal) ? biases : weights).Add(p);
        }

        return (weights, biases);
    }
}
