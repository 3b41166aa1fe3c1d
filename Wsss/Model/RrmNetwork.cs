using TorchSharp;
using Wsss.Engine;
using TorchSharp.Modules;
using Wsss.Model.Layers;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>The three outputs of <see cref="RrmNetwork.forward"/>; disposing it disposes them.</summary>
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
/// One of the four SGD parameter groups of spec section 6: which parameters, and their learning-rate factor
/// and weight decay.
/// </summary>
/// <param name="Name">"backbone.weight", "backbone.bias", "head.weight" or "head.bias".</param>
/// <param name="Parameters">The parameters (all require gradients); may be empty.</param>
/// <param name="LearningRateMultiplier">Factor on the base learning rate.</param>
/// <param name="WeightDecay">L2 penalty.</param>
public sealed record RrmParameterGroup(string Name, IReadOnlyList<Parameter> Parameters, double LearningRateMultiplier, double WeightDecay);

/// <summary>
/// RRM's network (spec section 1) as a TorchSharp module: one backbone at output stride 8 feeding a
/// classification branch (whose weights give the CAMs) and a segmentation branch. State-dict names:
/// "backbone.*", "classifier.weight", "segmentation.conv1.weight", "segmentation.conv1.bias",
/// "segmentation.conv2.weight", "segmentation.conv2.bias".
/// </summary>
public sealed class RrmNetwork : nn.Module<Tensor, RrmOutput>
{
    private readonly Backbone backbone;
    private readonly ClassificationHead classifier;
    private readonly SegmentationHead segmentation;

    /// <summary>Creates the network around <paramref name="backbone"/>, which it owns from now on.</summary>
    /// <param name="backbone">Feature extractor.</param>
    /// <param name="classes">Foreground classes C (the segmentation branch has C + 1 outputs).</param>
    /// <param name="classifierDropout">Dropout2d rate of the classification branch. Default 0.5.</param>
    public RrmNetwork(Backbone backbone, int classes, double classifierDropout = 0.5)
        : base(nameof(RrmNetwork))
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        Classes = classes;
        this.backbone = backbone;
        classifier = new ClassificationHead(backbone.OutputChannels, classes, classifierDropout);
        segmentation = new SegmentationHead(backbone.OutputChannels, classes + 1);
        RegisterComponents();
    }

    /// <summary>Scales of the extra CAM-only forwards of <see cref="MultiScaleCam"/> (0.5, 1.5, 2.0; scale 1 is the main forward).</summary>
    public static IReadOnlyList<double> DefaultCamScales { get; } = [0.5, 1.5, 2.0];

    /// <summary>Foreground classes C.</summary>
    public int Classes { get; }

    /// <summary>The feature extractor.</summary>
    public Backbone Backbone => backbone;

    /// <summary>The classification branch (also the CAM weights).</summary>
    public ClassificationHead Classifier => classifier;

    /// <summary>The segmentation branch.</summary>
    public SegmentationHead Segmentation => segmentation;

    /// <summary>Runs both branches on normalised images (N, 3, H, W).</summary>
    public override RrmOutput forward(Tensor images)
    {
        var features = backbone.forward(CpuChannelsLast(images));
        return new RrmOutput(classifier.Logits(features), classifier.Cam(features), segmentation.forward(features));
    }

    /// <summary>The CAMs (N, C, h, w) only, at feature resolution (no segmentation branch).</summary>
    public Tensor ForwardCam(Tensor images) => classifier.Cam(backbone.forward(CpuChannelsLast(images)));

    /// <summary>Segmentation logits (N, C + 1, h, w) only, at feature resolution (inference).</summary>
    public Tensor ForwardSegmentation(Tensor images) => segmentation.forward(backbone.forward(CpuChannelsLast(images)));

    // On the CPU, oneDNN runs NHWC convolutions without reordering each layer's input and output to its
    // blocked layout and back (MobileNetV1 0.75 forward at 4 x 321 x 321 took about half the time with the
    // previous engine; same values). TorchSharp has no memory_format argument, but a permuted contiguous copy
    // permuted back is a channels-last tensor to libtorch, and convolution outputs keep that layout.
    private static Tensor CpuChannelsLast(Tensor images) =>
        images.device_type == DeviceType.CPU && images.dim() == 4 && images.dtype == ScalarType.Float32
            ? images.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
            : images;

    /// <summary>
    /// The training-time CAM of spec section 2: the scale-1 CAM averaged with CAM-only forwards at
    /// <paramref name="scales"/> (input resized bilinearly to int(H*s) x int(W*s), each CAM resized back to
    /// the scale-1 CAM's size), upsampled bilinearly to (H, W), zeroed for classes absent from
    /// <paramref name="labels"/>, and divided per image and class by its maximum + 1e-5, so values lie in
    /// [0, 1]. The extra forwards run without gradients in the network's current mode (as the reference,
    /// whose backbone dropout stays active in training). Returns (N, C, H, W) without gradient history, in the
    /// caller's dispose scope.
    /// </summary>
    /// <param name="images">The normalised batch (N, 3, H, W) given to <see cref="forward"/>.</param>
    /// <param name="labels">Image-level labels (N, C), 1 for present classes and 0 for absent ones.</param>
    /// <param name="cam1">The scale-1 CAM from <see cref="forward"/> on the same images (detached here);
    /// null computes it.</param>
    /// <param name="scales">Extra scales; null uses <see cref="DefaultCamScales"/>.</param>
    /// <exception cref="ArgumentException">The labels do not have shape (N, C), or a scale is not positive.</exception>
    public Tensor MultiScaleCam(Tensor images, Tensor labels, Tensor? cam1 = null, IReadOnlyList<double>? scales = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        long n = images.shape[0];
        if (labels.dim() != 2 || labels.shape[0] != n || labels.shape[1] != Classes)
        {
            throw new ArgumentException($"labels must have shape ({n}, {Classes}), got ({string.Join(", ", labels.shape)}).", nameof(labels));
        }

        scales ??= DefaultCamScales;
        foreach (double s in scales)
        {
            if (!(s > 0) || !double.IsFinite(s))
            {
                throw new ArgumentException($"CAM scales must be positive, got {s}.", nameof(scales));
            }
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // CAM-only forwards run in the network's mode, as the reference's; a backbone that trains its
        // BatchNorm (SmallCnn; the reference freezes it) must not fold these rescaled batches into the running
        // statistics that inference uses.
        var trained = backbone.modules().OfType<FreezableBatchNorm2d>().Where(bn => !bn.Frozen).ToList();
        trained.ForEach(bn => bn.TrackRunningStatistics = false);
        try
        {
            return CamAverage(images, labels, cam1, scales).MoveToOuterDisposeScope();
        }
        finally
        {
            trained.ForEach(bn => bn.TrackRunningStatistics = true);
        }
    }

    private Tensor CamAverage(Tensor images, Tensor labels, Tensor? cam1, IReadOnlyList<double> scales)
    {
        long n = images.shape[0], height = images.shape[2], width = images.shape[3];
        Tensor baseCam = cam1 is null ? ForwardCam(images) : cam1.detach();
        long[] camSize = [baseCam.shape[2], baseCam.shape[3]];
        Tensor sum = baseCam;
        foreach (double s in scales)
        {
            // Truncation, as Python's int(H * s) in the reference.
            long h = Math.Max(1, (long)(height * s));
            long w = Math.Max(1, (long)(width * s));
            var resized = nn.functional.interpolate(images, [h, w], mode: InterpolationMode.Bilinear, align_corners: false);
            var cam = ForwardCam(resized);
            sum = sum.Plus(nn.functional.interpolate(cam, camSize, mode: InterpolationMode.Bilinear, align_corners: false));
        }

        var mean = sum.DividedBy(scales.Count + 1);
        var upsampled = nn.functional.interpolate(mean, [height, width], mode: InterpolationMode.Bilinear, align_corners: false);
        var mask = labels.to(ScalarType.Float32, upsampled.device).reshape(n, Classes, 1, 1);
        var masked = upsampled * mask;
        var peak = masked.amax([2, 3], keepdim: true);
        return masked / peak.Plus(1e-5);
    }

    /// <summary>
    /// The four SGD groups of spec section 6, over the parameters that require gradients: backbone weights
    /// (learning rate x1, <paramref name="weightDecay"/>), backbone biases (x2, no decay), new-layer weights
    /// (x10, <paramref name="weightDecay"/>), new-layer biases (x20, no decay). Frozen BatchNorm parameters do
    /// not require gradients and so belong to no group; a trained BatchNorm's scale and shift count as a
    /// weight and a bias. The order is fixed (checkpoints index groups); a group may be empty.
    /// </summary>
    /// <param name="weightDecay">Decay of the two weight groups. Default 1e-5 (the reference's).</param>
    /// <param name="backboneLearningRateFactor">
    /// Extra factor on both backbone groups (x1 and x2 become x f and x 2f); 0 keeps the backbone fixed. Default 1
    /// (the reference).
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A negative or non-finite factor or decay.</exception>
    public RrmParameterGroup[] ParameterGroups(double weightDecay = 1e-5, double backboneLearningRateFactor = 1.0)
    {
        if (!double.IsFinite(backboneLearningRateFactor) || backboneLearningRateFactor < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(backboneLearningRateFactor), backboneLearningRateFactor, "The backbone learning-rate factor must be finite and >= 0.");
        }

        if (!double.IsFinite(weightDecay) || weightDecay < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "The weight decay must be finite and >= 0.");
        }

        var (backboneWeights, backboneBiases) = Split(backbone.named_parameters());
        var (headWeights, headBiases) = Split(classifier.named_parameters().Concat(segmentation.named_parameters()));
        return
        [
            new RrmParameterGroup("backbone.weight", backboneWeights, backboneLearningRateFactor, weightDecay),
            new RrmParameterGroup("backbone.bias", backboneBiases, 2 * backboneLearningRateFactor, 0),
            new RrmParameterGroup("head.weight", headWeights, 10, weightDecay),
            new RrmParameterGroup("head.bias", headBiases, 20, 0),
        ];
    }

    private static (List<Parameter> Weights, List<Parameter> Biases) Split(IEnumerable<(string Name, Parameter Parameter)> parameters)
    {
        var weights = new List<Parameter>();
        var biases = new List<Parameter>();
        foreach (var (name, p) in parameters)
        {
            if (!p.requires_grad)
            {
                continue;
            }

            (name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal) ? biases : weights).Add(p);
        }

        return (weights, biases);
    }
}
