using TorchSharp;
using Wsss.Engine;
using Wsss.Model.Layers;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// A feature extractor for RRM, as a TorchSharp module: maps a normalised image batch (N, 3, H, W) to
/// features (N, <see cref="OutputChannels"/>, ceil(H/8), ceil(W/8)) at output stride 8 (the last stages are
/// dilated instead of strided). Its state-dict names mirror the reference implementation of each
/// architecture, so converted pretrained weights load with <see cref="LoadWeights"/>.
/// </summary>
public abstract class Backbone : nn.Module<Tensor, Tensor>
{
    private bool frozenBatchNorm;

    /// <summary>Creates the module (the name is TorchSharp's module name).</summary>
    protected Backbone(string name)
        : base(name)
    {
        TorchEngine.EnsureLoaded();
    }

    /// <summary>The architecture (as stored in model files).</summary>
    public abstract BackboneKind Kind { get; }

    /// <summary>Width multiplier (1 for fixed-width architectures).</summary>
    public virtual double Width => 1.0;

    /// <summary>Channels of the feature map returned by forward.</summary>
    public abstract long OutputChannels { get; }

    /// <summary>Input size divided by output size (rounded up), 8 unless stated otherwise.</summary>
    public virtual int OutputStride => 8;

    /// <summary>The input normalisation the pretrained weights expect.</summary>
    public abstract InputNormalization Normalization { get; }

    /// <summary>
    /// Whether every BatchNorm layer is frozen: it normalises with its running statistics in both modes,
    /// never updates them, and its affine parameters get no gradient (as RRM trains its backbone).
    /// </summary>
    public bool FrozenBatchNorm
    {
        get => frozenBatchNorm;
        set
        {
            frozenBatchNorm = value;
            foreach (var bn in modules().OfType<FreezableBatchNorm2d>())
            {
                bn.Frozen = value;
            }
        }
    }

    /// <summary>Copies pretrained weights in, by state-dict name (see <see cref="ModelWeights.Load"/>).</summary>
    /// <returns>The names in <paramref name="weights"/> this backbone has no use for (for example a classifier).</returns>
    /// <exception cref="InvalidDataException">A tensor is missing or has another shape; the message names it.</exception>
    public IReadOnlyList<string> LoadWeights(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> weights) =>
        ModelWeights.Load(this, weights);

    /// <summary>
    /// Stops gradients for every parameter (they keep their values), as for a backbone that is not trained.
    /// </summary>
    public void Freeze()
    {
        foreach (var p in parameters())
        {
            p.requires_grad = false;
        }
    }
}

/// <summary>Creates backbones by kind (for model files and command-line options).</summary>
public static class Backbones
{
    /// <summary>A randomly initialised backbone of <paramref name="kind"/> at output stride 8.</summary>
    /// <param name="kind">Architecture.</param>
    /// <param name="width">Width multiplier (MobileNet v1 only; others need 1).</param>
    /// <param name="frozenBatchNorm">Freeze BatchNorm; null takes the architecture's default
    /// (frozen for pretrained architectures, trained for <see cref="SmallCnn"/>, which starts from scratch).</param>
    /// <exception cref="ArgumentException">A width other than 1 for a fixed-width architecture.</exception>
    public static Backbone Create(BackboneKind kind, double width = 1.0, bool? frozenBatchNorm = null)
    {
        if (kind != BackboneKind.MobileNetV1 && width != 1.0)
        {
            throw new ArgumentException($"{kind} has no width multiplier (got {width}).", nameof(width));
        }

        return kind switch
        {
            BackboneKind.SmallCnn => new SmallCnn(frozenBatchNorm: frozenBatchNorm ?? false),
            BackboneKind.MobileNetV1 => new MobileNetV1(width, frozenBatchNorm: frozenBatchNorm ?? true),
            BackboneKind.ResNet38 => new ResNet38(frozenBatchNorm ?? true),
            BackboneKind.ResNet50 => new ResNet50(frozenBatchNorm ?? true),
            BackboneKind.ResNet18 => new ResNet18(frozenBatchNorm ?? true),
            BackboneKind.ResNet101 => new ResNet101(frozenBatchNorm ?? true),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown backbone"),
        };
    }
}
