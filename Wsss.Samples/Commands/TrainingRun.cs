using Wsss.Data;
using Wsss.Inference;
using Wsss.Training;

namespace Wsss.Samples.Commands;

/// <summary>Runs a trainer under a progress display, keeping every progress report (for loss curves and timings).</summary>
internal sealed class TrainingRun
{
    public List<TrainingProgress> History { get; } = [];

    public SegmentationModel Train(RrmTrainingOptions options, IWeakDataset data, ProgressDisplay display, CancellationToken cancellationToken)
    {
        var trainer = new RrmTrainer(options);
        return display.Run("training", options.Iterations, report =>
            trainer.Train(data, new Reporter(p =>
            {
                History.Add(p);
                report(p.Iteration, Cli.FormattableLine(p, display.Plain));
            }), cancellationToken));
    }

    /// <summary>The same network trained on the dataset's masks (<see cref="SupervisedTrainer"/>), under the same display.</summary>
    public SegmentationModel TrainOnMasks(RrmTrainingOptions options, IWeakDataset data, ProgressDisplay display, CancellationToken cancellationToken) =>
        display.Run("training on masks", options.Iterations, report =>
            SupervisedTrainer.Train(data, options, new Reporter(p =>
            {
                History.Add(p);
                report(p.Iteration, display.Plain
                    ? FormattableString.Invariant($"cross-entropy {p.Loss:F4} lr {p.LearningRate:E2} labelled {p.SeedCoverage:P0} {p.ImagesPerSecond:F1} img/s")
                    : FormattableString.Invariant($"cross-entropy {p.Loss:F3}"));
            }), null, cancellationToken).Model);

    /// <summary>Averages of the per-part step timings over the steps after warm-up that ran seeds (ms).</summary>
    public StepTimings? MeanTimings(bool withSeeds)
    {
        var steps = History.Where(h => (h.SeedLoss != 0) == withSeeds).Select(h => h.Timings).ToList();
        if (steps.Count == 0)
        {
            return null;
        }

        return new StepTimings(
            steps.Average(t => t.Data), steps.Average(t => t.Forward), steps.Average(t => t.Cam), steps.Average(t => t.Seeds),
            steps.Average(t => t.Losses), steps.Average(t => t.Backward), steps.Average(t => t.Optimizer));
    }

    /// <summary>Reports synchronously on the trainer's thread (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    private sealed class Reporter(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
