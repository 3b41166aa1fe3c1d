using Wsss.Data;
using Wsss.Inference;
using Wsss.Model;
using Wsss.Training;

namespace Wsss.Tests.Inference;

/// <summary>
/// A SmallCnn trained for a few RRM iterations on small synthetic images: enough to give non-trivial, image-dependent
/// masks. 60 iterations (about a second): with 12 the classes sometimes stayed below background everywhere, depending on
/// the thread count that tests running beside it had set.
/// </summary>
internal static class TinyModel
{
    public static SyntheticDataset Data { get; } = new(new SyntheticDatasetOptions { ClassCount = 3, ImageSize = 48, MinVisiblePixels = 10, Seed = 5 }, 16);

    public static SegmentationModel Train(int iterations = 60)
    {
        var options = new RrmTrainingOptions
        {
            Backbone = BackboneKind.SmallCnn,
            Iterations = iterations,
            BatchSize = 4,
            CropSize = 48,
            BaseLearningRate = 0.01,
            Momentum = 0.9,
            ClassificationWarmupFraction = 0.5,
            Threads = 2,
            Seed = 3,
        };
        return new RrmTrainer(options).Train(WeakDataset.From(Data));
    }
}
