namespace Wsss.Torch.Optim;

/// <summary>Stochastic gradient descent with optional momentum, as torch.optim.SGD.</summary>
public sealed class Sgd : Optimizer
{
    /// <summary>Creates the optimiser.</summary>
    /// <param name="groups">Parameter groups (each with its learning-rate multiplier and weight decay).</param>
    /// <param name="learningRate">Base learning rate.</param>
    /// <param name="momentum">Momentum factor; 0 (the default, as RRM's reference effectively runs) disables it.</param>
    /// <param name="dampening">Dampening of the momentum.</param>
    /// <param name="nesterov">Nesterov momentum.</param>
    public Sgd(IEnumerable<ParameterGroup> groups, double learningRate, double momentum = 0, double dampening = 0, bool nesterov = false)
        : base(groups, learningRate)
    {
        if (nesterov && (momentum <= 0 || dampening != 0))
        {
            throw new ArgumentException("Nesterov momentum requires momentum > 0 and zero dampening.");
        }

        Momentum = momentum;
        Dampening = dampening;
        Nesterov = nesterov;
    }

    /// <summary>Momentum factor.</summary>
    public double Momentum { get; }

    /// <summary>Dampening.</summary>
    public double Dampening { get; }

    /// <summary>Nesterov momentum.</summary>
    public bool Nesterov { get; }

    /// <inheritdoc/>
    public override unsafe void Step()
    {
        for (int g = 0; g < Groups.Count; g++)
        {
            var group = Groups[g];
            double lr = LearningRate * group.LearningRateMultiplier;
            var momentum = Slot(g, "momentum");
            WithHandles(group.Parameters, [momentum], (p, s) =>
            {
                fixed (nint* pp = p)
                fixed (nint* mp = s[0])
                {
                    return Interop.NativeMethods.wsss_sgd_step(pp, mp, p.Length, lr, Momentum, Dampening, group.WeightDecay, Nesterov ? 1 : 0);
                }
            });
        }

        StepCount++;
    }
}

/// <summary>Adam with decoupled weight decay, as torch.optim.AdamW.</summary>
public sealed class AdamW : Optimizer
{
    /// <summary>Creates the optimiser.</summary>
    public AdamW(IEnumerable<ParameterGroup> groups, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
        : base(groups, learningRate)
    {
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
    }

    /// <summary>First-moment decay.</summary>
    public double Beta1 { get; }

    /// <summary>Second-moment decay.</summary>
    public double Beta2 { get; }

    /// <summary>Denominator epsilon.</summary>
    public double Eps { get; }

    /// <inheritdoc/>
    public override unsafe void Step()
    {
        long step = StepCount + 1;
        for (int g = 0; g < Groups.Count; g++)
        {
            var group = Groups[g];
            double lr = LearningRate * group.LearningRateMultiplier;
            var m = Slot(g, "exp_avg");
            var v = Slot(g, "exp_avg_sq");
            WithHandles(group.Parameters, [m, v], (p, s) =>
            {
                fixed (nint* pp = p)
                fixed (nint* mp = s[0])
                fixed (nint* vp = s[1])
                {
                    return Interop.NativeMethods.wsss_adamw_step(pp, mp, vp, p.Length, lr, Beta1, Beta2, Eps, group.WeightDecay, step);
                }
            });
        }

        StepCount = step;
    }
}
