using System.Globalization;
using TorchSharp;
using TorchSharp.Utils;
using Wsss.Engine;
using Wsss.Model.Layers;
using static TorchSharp.torch;

namespace Wsss.Model;

/// <summary>
/// MobileNet v1 (Howard et al. 2017) as Keras builds it: a 3x3 stride-2 convolution then 13
/// depthwise-separable blocks, BatchNorm (eps 1e-3) and ReLU6 after every convolution, TensorFlow
/// 'same' padding. Layer names mirror Keras ("conv1", "conv1_bn", "conv_dw_1", "conv_dw_1_bn",
/// "conv_pw_1", ..., "conv_pw_13_bn", and "conv_preds" for the ImageNet classifier), so importing
/// Keras or TensorFlow.js weights is a renaming. Below the requested output stride the remaining
/// stride-2 blocks become stride 1 and the depthwise convolutions after them are dilated, as in
/// DeepLab: at output stride 8, conv_dw_6 keeps dilation 1, conv_dw_7..12 use 2 and conv_dw_13 uses 4.
/// Input: RGB as v / 127.5 - 1.
/// </summary>
public sealed class MobileNetV1 : Backbone
{
    private static readonly int[] PointwiseFilters = [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024];
    private static readonly int[] DepthwiseStrides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1];

    private readonly List<(TfSameConv2d Conv, FreezableBatchNorm2d Bn)> layers = new();
    // Registered as "conv_preds" (Keras' name); without the attribute TorchSharp would register the field a second time,
    // as "classifier", once this network is registered in a parent such as RrmNetwork.
    [ComponentName(Name = "conv_preds")]
    private readonly TfSameConv2d? classifier;
    private readonly int outputStride;

    /// <summary>Creates the network with random weights.</summary>
    /// <param name="alpha">Width multiplier: every layer has floor(filters * alpha) channels (Keras' rule). Default 1.</param>
    /// <param name="outputStride">8 (default, for segmentation), 16, or 32 (the original network).</param>
    /// <param name="frozenBatchNorm">Freeze every BatchNorm (default true).</param>
    /// <param name="classes">When &gt; 0, adds the ImageNet-style classifier "conv_preds" (1x1, bias) used by
    /// <see cref="Classify"/>; 0 (default) builds the feature extractor only.</param>
    /// <exception cref="ArgumentException">alpha is not positive, the output stride is not 8, 16 or 32, or classes is negative.</exception>
    public MobileNetV1(double alpha = 1.0, int outputStride = 8, bool frozenBatchNorm = true, int classes = 0)
        : base(nameof(MobileNetV1))
    {
        if (!double.IsFinite(alpha) || alpha <= 0 || (int)(32 * alpha) < 1)
        {
            throw new ArgumentException($"alpha must be a positive width multiplier, got {alpha}.", nameof(alpha));
        }

        if (outputStride is not (8 or 16 or 32))
        {
            throw new ArgumentException($"the output stride must be 8, 16 or 32, got {outputStride}.", nameof(outputStride));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(classes);
        Alpha = alpha;
        this.outputStride = outputStride;

        long channels = (long)(32 * alpha);
        AddLayer("conv1", new TfSameConv2d(3, channels, 3, stride: 2), channels);
        int currentStride = 2;
        int rate = 1;
        for (int i = 0; i < PointwiseFilters.Length; i++)
        {
            int stride = DepthwiseStrides[i];
            int dilation = 1;
            if (currentStride == outputStride)
            {
                // DeepLab's rule: the block that would go below the output stride keeps the current rate
                // and every later block is dilated by the stride it gave up.
                dilation = rate;
                rate *= stride;
                stride = 1;
            }
            else
            {
                currentStride *= stride;
            }

            string n = (i + 1).ToString(CultureInfo.InvariantCulture);
            AddLayer($"conv_dw_{n}", new TfSameConv2d(channels, channels, 3, stride, dilation, groups: channels), channels);
            long outChannels = (long)(PointwiseFilters[i] * alpha);
            AddLayer($"conv_pw_{n}", new TfSameConv2d(channels, outChannels, 1), outChannels);
            channels = outChannels;
        }

        OutputChannels = channels;
        if (classes > 0)
        {
            classifier = new TfSameConv2d(channels, classes, 1, bias: true);
            register_module("conv_preds", classifier);
        }

        FrozenBatchNorm = frozenBatchNorm;
    }

    /// <summary>The width multiplier.</summary>
    public double Alpha { get; }

    /// <inheritdoc/>
    public override BackboneKind Kind => BackboneKind.MobileNetV1;

    /// <inheritdoc/>
    public override double Width => Alpha;

    /// <inheritdoc/>
    public override long OutputChannels { get; }

    /// <inheritdoc/>
    public override int OutputStride => outputStride;

    /// <inheritdoc/>
    public override InputNormalization Normalization => InputNormalization.MinusOneToOne;

    /// <summary>Classes of the "conv_preds" classifier (0 when built without it).</summary>
    public long Classes => classifier?.OutChannels ?? 0;

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        Tensor x = input;
        foreach (var (conv, bn) in layers)
        {
            if (bn.Frozen && conv.Bias is null)
            {
                // A frozen BatchNorm is a fixed per-channel affine map: folded into the convolution it costs no
                // pass of its own over the activations, forward or backward (the same function up to rounding).
                var (scale, shift) = bn.FrozenAffine();
                using (scale)
                using (shift)
                using (var folded = conv.Weight * scale.reshape(-1, 1, 1, 1))
                {
                    // In place, as torchvision's ReLU6(inplace=True): the convolution's backward needs its input
                    // and weight, not its output, so the fresh output can be clamped where it lies.
                    x = conv.Forward(x, folded, shift).clamp_(Scalars.Zero, Scalars.Six);
                }
            }
            else
            {
                x = nn.functional.relu6(bn.forward(conv.forward(x)));
            }
        }

        return x;
    }

    /// <summary>
    /// The ImageNet classifier of the original network: global average pool, dropout (rate 1e-3, as
    /// Keras, in training mode only), the 1x1 "conv_preds" convolution, softmax. Returns (N, classes)
    /// probabilities. Meant for checking imported weights at output stride 32.
    /// </summary>
    /// <exception cref="InvalidOperationException">The network was built without a classifier.</exception>
    public Tensor Classify(Tensor input)
    {
        if (classifier is null)
        {
            throw new InvalidOperationException("This MobileNetV1 has no classifier; create it with classes > 0.");
        }

        var pooled = nn.functional.adaptive_avg_pool2d(forward(input), [1, 1]);
        var logits = classifier.forward(nn.functional.dropout(pooled, 1e-3, training));
        return nn.functional.softmax(logits.reshape(logits.shape[0], -1), 1);
    }

    private void AddLayer(string name, TfSameConv2d conv, long channels)
    {
        register_module(name, conv);
        var bn = new FreezableBatchNorm2d(channels, eps: 1e-3);
        register_module($"{name}_bn", bn);
        layers.Add((conv, bn));
    }
}
