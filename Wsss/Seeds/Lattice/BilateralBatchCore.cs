namespace Wsss.Seeds.Lattice;

/// <summary>
/// Bilateral filtering of a batch of equally sized images (the dense energy loss's filter): images run
/// in parallel, one lattice per worker, the threads left over work inside an image. Port of
/// BilateralBatch in native/src/seeds.cpp.
/// </summary>
internal sealed unsafe class BilateralBatchCore
{
    private readonly List<Worker> workers = [];
    private readonly WorkerTeam team = new();
    private readonly Action<int> workerPart;

    // parameters of the batch being filtered
    private byte* images;
    private float* input;
    private float* output;
    private int count;
    private int height;
    private int width;
    private int channels;
    private float sxy;
    private float srgb;
    private int inner;
    private int nextImage;

    public BilateralBatchCore() => workerPart = WorkerPart;

    /// <summary>images: count x h x w x 3; input, output: count x channels x h x w (not overlapping).</summary>
    public void Filter(
        byte* imagesHwc, int imageCount, int imageHeight, int imageWidth, float* values, int valueChannels,
        float spatial, float colour, float* result, int threads)
    {
        if (imageCount == 0)
        {
            return;
        }

        (int outer, int innerThreads) = WorkerTeam.Split(threads, imageCount);
        while (workers.Count < outer)
        {
            workers.Add(new Worker());
        }

        images = imagesHwc;
        input = values;
        output = result;
        count = imageCount;
        height = imageHeight;
        width = imageWidth;
        channels = valueChannels;
        sxy = spatial;
        srgb = colour;
        inner = innerThreads;
        nextImage = 0;
        team.Run(outer, outer, workerPart);
    }

    // Worker w takes the next unfiltered image until none is left (the C++'s dynamic schedule).
    private void WorkerPart(int w)
    {
        Worker worker = workers[w];
        long n = (long)height * width;
        int i;
        while ((i = Interlocked.Increment(ref nextImage) - 1) < count)
        {
            float* features = worker.Features.Ensure(n * 5);
            LatticeFeatures.Bilateral(images + (i * n * 3), height, width, sxy, srgb, features);
            worker.Lattice.Build(features, n, 5, inner);
            long offset = i * channels * n;
            worker.Lattice.FilterPlanar(input + offset, channels, output + offset, inner);
        }
    }

    private sealed class Worker
    {
        public LatticeCore Lattice { get; } = new();

        public PinnedBuffer<float> Features { get; } = new();
    }
}
