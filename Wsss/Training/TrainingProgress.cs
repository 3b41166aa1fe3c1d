namespace Wsss.Training;

/// <summary>Milliseconds spent in each part of one training step.</summary>
/// <param name="Data">Loading, augmenting and converting the batch (overlaps the previous step when prefetched: only the wait is counted).</param>
/// <param name="Forward">The scale-1 forward pass of both branches.</param>
/// <param name="Cam">The extra CAM-only forwards and CAM normalisation.</param>
/// <param name="Seeds">Reliable seeds: two dense CRFs per image and pruning.</param>
/// <param name="Losses">Classification, seeded cross-entropy and dense energy losses.</param>
/// <param name="Backward">Back-propagation.</param>
/// <param name="Optimizer">The SGD update.</param>
public sealed record StepTimings(double Data, double Forward, double Cam, double Seeds, double Losses, double Backward, double Optimizer)
{
    /// <summary>Sum of the parts.</summary>
    public double Total => Data + Forward + Cam + Seeds + Losses + Backward + Optimizer;
}

/// <summary>What <see cref="RrmTrainer"/> reports after a step.</summary>
/// <param name="Iteration">Completed iterations (1-based).</param>
/// <param name="TotalIterations">Planned iterations.</param>
/// <param name="Loss">Weighted total loss of the step.</param>
/// <param name="ClassificationLoss">Multilabel soft-margin loss.</param>
/// <param name="SeedLoss">Seeded balanced cross-entropy (0 during the classification warm-up).</param>
/// <param name="EnergyLoss">Dense energy loss (0 during warm-up or when disabled).</param>
/// <param name="LearningRate">Base learning rate used in the step.</param>
/// <param name="SeedCoverage">Share of real (non-padding) crop pixels that the reliable seeds label.</param>
/// <param name="ImagesPerSecond">Throughput averaged over the run so far.</param>
/// <param name="Elapsed">Time since training started (this run).</param>
/// <param name="Remaining">Estimated time to finish.</param>
/// <param name="Timings">Per-part timing of the step.</param>
public sealed record TrainingProgress(
    int Iteration,
    int TotalIterations,
    double Loss,
    double ClassificationLoss,
    double SeedLoss,
    double EnergyLoss,
    double LearningRate,
    double SeedCoverage,
    double ImagesPerSecond,
    TimeSpan Elapsed,
    TimeSpan Remaining,
    StepTimings Timings)
{
    /// <summary>One log line in ML.NET's "Row: N, Loss: x" spirit, parseable by scripts.</summary>
    public override string ToString() =>
        FormattableString.Invariant(
            $"Iteration: {Iteration}/{TotalIterations}, Loss: {Loss:F4} (cls {ClassificationLoss:F4}, seed {SeedLoss:F4}, energy {EnergyLoss:F4}), LR: {LearningRate:E2}, SeedCoverage: {SeedCoverage:P1}, Images/s: {ImagesPerSecond:F2}, ETA: {Remaining:hh\\:mm\\:ss}");
}

/// <summary>A loss became NaN or infinite; training stopped before writing anything from that step.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(int iteration, string lossName, double value)
        : base(FormattableString.Invariant($"Training diverged at iteration {iteration}: the {lossName} loss is {value}. Nothing from this step was saved; lower the learning rate or check the data (the last checkpoint, if any, is intact)."))
    {
        Iteration = iteration;
        LossName = lossName;
        Value = value;
    }

    /// <summary>The 1-based iteration whose loss was not finite.</summary>
    public int Iteration { get; }

    /// <summary>Which loss ("classification", "seed", "energy" or "total").</summary>
    public string LossName { get; }

    /// <summary>The offending value.</summary>
    public double Value { get; }
}
