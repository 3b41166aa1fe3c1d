namespace Wsss.Torch.Nn;

/// <summary>Parameter initialisations (same formulas as torch.nn.init).</summary>
public static class Init
{
    /// <summary>Xavier/Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), fans of a conv weight include the kernel area.</summary>
    public static void XavierUniform(Tensor weight, double gain = 1.0)
    {
        var (fanIn, fanOut) = Fans(weight);
        double a = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        weight.UniformInPlace(-a, a);
    }

    /// <summary>Kaiming-normal for ReLU networks with fan_out mode (torchvision's ResNet init).</summary>
    public static void KaimingNormalFanOut(Tensor weight)
    {
        var (_, fanOut) = Fans(weight);
        weight.NormalInPlace(0, Math.Sqrt(2.0 / fanOut));
    }

    internal static (double FanIn, double FanOut) Fans(Tensor weight)
    {
        var s = weight.Shape;
        if (s.Length < 2)
        {
            throw new ArgumentException("fans are defined for tensors with at least 2 dimensions", nameof(weight));
        }

        long receptive = 1;
        for (int i = 2; i < s.Length; i++)
        {
            receptive *= s[i];
        }

        return (s[1] * receptive, s[0] * receptive);
    }
}

/// <summary>2-d convolution layer: parameters "weight" (out, in/groups, k, k) and optional "bias".</summary>
public sealed class Conv2d : TensorModule
{
    /// <summary>
    /// Creates the layer with PyTorch's default initialisation (uniform with bound 1/sqrt(fan_in)).
    /// </summary>
    public Conv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1, long groups = 1, bool bias = true)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0)
        {
            throw new ArgumentException($"channels ({inChannels} -> {outChannels}) must be divisible by groups ({groups}).");
        }

        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding;
        Dilation = dilation;
        Groups = groups;
        double bound = 1.0 / Math.Sqrt(inChannels / groups * kernelSize * kernelSize);
        Weight = RegisterParameter("weight", Torch.Empty([outChannels, inChannels / groups, kernelSize, kernelSize]).UniformInPlace(-bound, bound));
        Bias = bias ? RegisterParameter("bias", Torch.Empty([outChannels]).UniformInPlace(-bound, bound)) : null;
    }

    /// <summary>Input channels.</summary>
    public long InChannels { get; }

    /// <summary>Output channels.</summary>
    public long OutChannels { get; }

    /// <summary>Kernel height and width.</summary>
    public long KernelSize { get; }

    /// <summary>Stride.</summary>
    public long Stride { get; }

    /// <summary>Zero padding on each side.</summary>
    public long Padding { get; }

    /// <summary>Dilation.</summary>
    public long Dilation { get; }

    /// <summary>Groups (in channels for depthwise).</summary>
    public long Groups { get; }

    /// <summary>The kernel.</summary>
    public Tensor Weight { get; }

    /// <summary>The bias, or null.</summary>
    public Tensor? Bias { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Conv2d(input, Weight, Bias, Stride, Padding, Dilation, Groups);
}

/// <summary>
/// Batch normalisation over channels: parameters "weight", "bias"; buffers "running_mean", "running_var",
/// "num_batches_tracked" (PyTorch's names). When <see cref="Frozen"/>, it always uses the running statistics
/// and its affine parameters do not train, whatever the module's mode (RRM freezes every BatchNorm).
/// </summary>
public sealed class BatchNorm2d : TensorModule
{
    private bool frozen;

    /// <summary>Creates the layer: weight 1, bias 0, running mean 0, running variance 1.</summary>
    public BatchNorm2d(long channels, double eps = 1e-5, double momentum = 0.1)
    {
        Channels = channels;
        Eps = eps;
        Momentum = momentum;
        Weight = RegisterParameter("weight", Torch.Ones([channels]));
        Bias = RegisterParameter("bias", Torch.Zeros([channels]));
        RunningMean = RegisterBuffer("running_mean", Torch.Zeros([channels]));
        RunningVar = RegisterBuffer("running_var", Torch.Ones([channels]));
        NumBatchesTracked = RegisterBuffer("num_batches_tracked", Torch.Zeros([], DType.Int64));
    }

    /// <summary>Channel count.</summary>
    public long Channels { get; }

    /// <summary>Added to the variance.</summary>
    public double Eps { get; }

    /// <summary>Running-statistics momentum.</summary>
    public double Momentum { get; }

    /// <summary>Scale.</summary>
    public Tensor Weight { get; }

    /// <summary>Shift.</summary>
    public Tensor Bias { get; }

    /// <summary>Running mean.</summary>
    public Tensor RunningMean { get; }

    /// <summary>Running variance.</summary>
    public Tensor RunningVar { get; }

    /// <summary>Batches seen in training mode.</summary>
    public Tensor NumBatchesTracked { get; }

    /// <summary>
    /// Frozen: running statistics only (never updated) and no gradient for weight and bias.
    /// </summary>
    public bool Frozen
    {
        get => frozen;
        set
        {
            frozen = value;
            Weight.RequiresGrad = !value;
            Bias.RequiresGrad = !value;
        }
    }

    /// <inheritdoc/>
    public override void Unfreeze()
    {
        if (!frozen)
        {
            base.Unfreeze();
        }
    }

    /// <summary>
    /// Whether a training-mode forward folds its batch statistics into the running ones. Off for extra
    /// forwards whose batches must not shape the statistics inference uses (RRM's rescaled CAM-only
    /// forwards); they still normalise with their own batch statistics, as in training mode.
    /// </summary>
    internal bool TrackRunningStatistics { get; set; } = true;

    /// <summary>
    /// For a frozen layer, the per-channel affine map it applies: y = x * scale + shift with
    /// scale = weight / sqrt(running_var + eps) and shift = bias - running_mean * scale (both (C), no gradient
    /// history). A convolution followed by this layer equals the convolution with its weight's output channels
    /// multiplied by scale and bias shift, which saves a full pass over the activations forward and backward.
    /// </summary>
    /// <exception cref="InvalidOperationException">The layer is not frozen (its output depends on batch statistics or its affine parameters train).</exception>
    internal (Tensor Scale, Tensor Shift) FrozenAffine()
    {
        if (!frozen)
        {
            throw new InvalidOperationException("Only a frozen BatchNorm2d is a fixed affine map.");
        }

        using (Torch.NoGrad())
        {
            using var denominator = RunningVar + Eps;
            using var inverse = denominator.Rsqrt();
            var scale = Weight * inverse;
            using var shifted = RunningMean * scale;
            var shift = Bias - shifted;
            return (scale, shift);
        }
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        bool useBatchStats = IsTraining && !frozen;
        if (useBatchStats && !TrackRunningStatistics)
        {
            return Functional.BatchNorm(input, null, null, Weight, Bias, training: true, Momentum, Eps);
        }

        if (useBatchStats)
        {
            using (Torch.NoGrad())
            {
                NumBatchesTracked.AddInPlace(1);
            }
        }

        return Functional.BatchNorm(input, RunningMean, RunningVar, Weight, Bias, useBatchStats, Momentum, Eps);
    }
}

/// <summary>Applies modules in order.</summary>
public sealed class Sequential : TensorModule
{
    private readonly List<TensorModule> layers = new();

    /// <summary>Creates the chain; children are named "0", "1", ... as in PyTorch.</summary>
    public Sequential(params TensorModule[] modules)
    {
        foreach (var m in modules)
        {
            Add(m);
        }
    }

    /// <summary>Appends a module.</summary>
    public void Add(TensorModule module)
    {
        RegisterModule(layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        layers.Add(module);
    }

    /// <summary>The modules in order.</summary>
    public IReadOnlyList<TensorModule> Layers => layers;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        Tensor x = input;
        foreach (var layer in layers)
        {
            Tensor y = layer.Forward(x);
            if (!ReferenceEquals(x, input) && !ReferenceEquals(x, y) && x.Scope is null)
            {
                // Intermediate results outside any dispose scope would otherwise wait for the finalizer.
                x.Dispose();
            }

            x = y;
        }

        return x;
    }
}

/// <summary>A function as a module (activations, pooling) so it can sit in a <see cref="Sequential"/>.</summary>
public sealed class Lambda : TensorModule
{
    private readonly Func<Tensor, Tensor> function;

    /// <summary>Wraps <paramref name="function"/>.</summary>
    public Lambda(Func<Tensor, Tensor> function) => this.function = function;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => function(input);
}
