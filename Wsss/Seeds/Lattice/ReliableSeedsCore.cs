using System.Runtime.CompilerServices;
namespace Wsss.Seeds.Lattice;

/// <summary>Validated reliable-region parameters (see <see cref="ReliableSeedOptions"/>).</summary>
internal readonly record struct SeedParameters(
    float LowBackgroundPower, float HighBackgroundPower, float CamPercentile, float CamFloor, float BackgroundCamThreshold,
    float CrfConfidence, CrfParameters Crf);

/// <summary>
/// RRM's reliable-region pruning (spec section 3) for a batch of images run in parallel, one CRF
/// workspace per worker. Port of SeedsEngine in native/src/seeds.cpp; the per-image rules are the
/// same code line by line, and the CRF computes the same floats, so the seeds are identical.
/// </summary>
internal sealed unsafe class ReliableSeedsCore
{
    private readonly List<Worker> workers = [];
    private readonly WorkerTeam team = new();
    private readonly Action<int> workerPart;

    // parameters of the batch being computed
    private byte* images;
    private byte* labels;
    private float* cams;
    private byte* output;
    private int count;
    private int height;
    private int width;
    private int classes;
    private SeedParameters parameters;
    private int inner;
    private int nextImage;

    public ReliableSeedsCore() => workerPart = WorkerPart;

    /// <summary>
    /// images: count x h x w x 3; labels: count x classes (non-zero = present); cams: count x classes x
    /// h x w; output: count x h x w with 0, c + 1 or 255.
    /// </summary>
    public void Compute(
        byte* imagesHwc, int imageCount, int imageHeight, int imageWidth, byte* imageLabels, float* imageCams, int classCount,
        in SeedParameters seedParameters, byte* result, int threads)
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
        labels = imageLabels;
        cams = imageCams;
        output = result;
        count = imageCount;
        height = imageHeight;
        width = imageWidth;
        classes = classCount;
        parameters = seedParameters;
        inner = innerThreads;
        nextImage = 0;
        team.Run(outer, outer, workerPart);
    }

    /// <summary>The k-th smallest of values (the element std::nth_element would put at k), reordering them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Select(Span<float> values, int k)
    {
        int lo = 0, hi = values.Length - 1;
        int budget = 2 * (32 - int.LeadingZeroCount(values.Length));
        while (hi > lo)
        {
            if (--budget < 0)
            {
                // Pathological pivots: finish with a sort (the k-th value is the same either way).
                values[lo..(hi + 1)].Sort();
                return values[k];
            }

            // Median of three as the pivot, then a Hoare partition.
            int mid = lo + ((hi - lo) / 2);
            float a = values[lo], b = values[mid], c = values[hi];
            float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
            int i = lo, j = hi;
            while (i <= j)
            {
                while (values[i] < pivot)
                {
                    i++;
                }

                while (values[j] > pivot)
                {
                    j--;
                }

                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }

            // [lo, j] <= pivot <= [i, hi]; between them values equal the pivot.
            if (k <= j)
            {
                hi = j;
            }
            else if (k >= i)
            {
                lo = i;
            }
            else
            {
                return values[k];
            }
        }

        return values[k];
    }

    // std::max and std::min (the first argument wins ties and NaN comparisons), not MathF.Max/Min (which
    // propagate NaN): a NaN CAM value must be treated as the C++ treats it.
    private static float StdMax(float a, float b) => a < b ? b : a;

    private static float StdMin(float a, float b) => b < a ? b : a;

    private void WorkerPart(int w)
    {
        Worker worker = workers[w];
        long n = (long)height * width;
        int i;
        while ((i = Interlocked.Increment(ref nextImage) - 1) < count)
        {
            OneImage(worker, images + (i * n * 3), labels + ((long)i * classes), cams + (i * classes * n), output + (i * n));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OneImage(Worker w, byte* rgb, byte* label, float* cam, byte* result)
    {
        long n = (long)height * width;
        SeedParameters p = parameters;
        w.Present.Clear();
        for (int c = 0; c < classes; c++)
        {
            if (label[c] != 0)
            {
                w.Present.Add(c);
            }
        }

        int np = w.Present.Count;
        int crfLabels = np + 1;
        int* present = w.PresentIndex.Ensure(Math.Max(np, 1));
        for (int i = 0; i < np; i++)
        {
            present[i] = w.Present[i];
        }

        float* maxCam = w.MaxCam.Ensure(n);
        float* bgCam = w.BgCam.Ensure(n);
        byte* camLabel = w.CamLabel.Ensure(n);
        byte* lowLabel = w.LowLabel.Ensure(n);
        float* lowFgMax = w.LowFgMax.Ensure(n);
        byte* highIsBg = w.HighIsBg.Ensure(n);
        float* highBg = w.HighBg.Ensure(n);
        byte* sure = w.Sure.Ensure(n);

        // Step 1: the CAM label, argmax over [bg, cams] with the first maximum winning (numpy's rule).
        // Absent classes are zero in the reference and can never win a strict comparison, so only the
        // present ones are scanned.
        for (long px = 0; px < n; px++)
        {
            float mx = 0f;
            for (int i = 0; i < np; i++)
            {
                mx = StdMax(mx, cam[(present[i] * n) + px]);
            }

            maxCam[px] = mx;
            float bg = MathF.Pow(1.0f - mx, p.HighBackgroundPower);
            bgCam[px] = bg;
            float best = bg;
            byte arg = 0;
            for (int i = 0; i < np; i++)
            {
                float v = cam[(present[i] * n) + px];
                if (v > best)
                {
                    best = v;
                    arg = (byte)(present[i] + 1);
                }
            }

            camLabel[px] = arg;
        }

        // Step 2: two CRFs over [background, present classes] (the reference's label set), sharing the
        // image's lattices.
        w.Crf.SetImage(rgb, height, width, p.Crf, inner);
        for (int pass = 0; pass < 2; pass++)
        {
            float power = pass == 0 ? p.LowBackgroundPower : p.HighBackgroundPower;
            float* u = w.Crf.BeginUnary(crfLabels);
            int cp = w.Crf.PaddedLabels;
            for (long px = 0; px < n; px++)
            {
                float* row = u + (px * cp);
                float bg = MathF.Pow(1.0f - maxCam[px], power);
                row[0] = MathF.Log(StdMin(StdMax(bg, 1e-5f), 1.0f));
                for (int i = 0; i < np; i++)
                {
                    float v = cam[(present[i] * n) + px];
                    row[i + 1] = MathF.Log(v >= 1e-5f ? StdMin(v, 1.0f) : 1e-5f);
                }

                for (int k = crfLabels; k < cp; k++)
                {
                    row[k] = 0f;
                }
            }

            w.Crf.Run(p.Crf.Iterations, inner);
            float* q = w.Crf.Q;
            for (long px = 0; px < n; px++)
            {
                float* row = q + (px * cp);
                int arg = 0;
                float best = row[0];
                float fg = 0f;
                for (int k = 1; k < crfLabels; k++)
                {
                    if (row[k] > best)
                    {
                        best = row[k];
                        arg = k;
                    }

                    fg = StdMax(fg, row[k]);
                }

                if (pass == 0)
                {
                    lowLabel[px] = arg == 0 ? (byte)0 : (byte)(present[arg - 1] + 1);
                    lowFgMax[px] = fg;
                }
                else
                {
                    highIsBg[px] = arg == 0 ? (byte)1 : (byte)0;
                    highBg[px] = row[0];
                }
            }
        }

        // Step 4: the sure-CAM region, for the labels that occur in argmax(crf_low).
        new Span<byte>(sure, (int)n).Clear();
        Span<bool> occurs = stackalloc bool[256];
        occurs.Clear();
        for (long px = 0; px < n; px++)
        {
            occurs[lowLabel[px]] = true;
        }

        if (occurs[0])
        {
            for (long px = 0; px < n; px++)
            {
                if (camLabel[px] == 0 && bgCam[px] > p.BackgroundCamThreshold)
                {
                    sure[px] = 1;
                }
            }
        }

        float* values = w.Values.Ensure(n);
        for (int i = 0; i < np; i++)
        {
            int c = present[i];
            byte lab = (byte)(c + 1);
            if (!occurs[lab])
            {
                continue;
            }

            float* cc = cam + (c * n);
            int found = 0;
            for (long px = 0; px < n; px++)
            {
                if (camLabel[px] == lab && cc[px] > p.CamFloor)
                {
                    values[found++] = cc[px];
                }
            }

            // No CAM value above the floor: the class has no sure region (the reference crashes here).
            if (found == 0)
            {
                continue;
            }

            // (double) as the C++ computes the index; the k-th smallest value is unique, so a selection
            // gives std::nth_element's value.
            int index = (int)Math.Min((long)((double)p.CamPercentile * found), found - 1);
            float thr = Select(new Span<float>(values, found), index);
            for (long px = 0; px < n; px++)
            {
                if (camLabel[px] == lab && cc[px] > thr)
                {
                    sure[px] = 1;
                }
            }
        }

        // Steps 3, 5, 6, 7 in the reference's order of overwrites, folded into one rule per pixel.
        for (long px = 0; px < n; px++)
        {
            float conf = StdMax(highBg[px], lowFgMax[px]);
            bool unsure = conf < p.CrfConfidence || sure[px] == 0;
            byte v;
            if (unsure)
            {
                v = 255;
            }
            else if (highIsBg[px] != 0)
            {
                v = 0;
            }
            else if (lowLabel[px] == 0)
            {
                v = 255;
            }
            else
            {
                v = lowLabel[px];
            }

            result[px] = v;
        }
    }

    private sealed class Worker
    {
        public DenseCrfCore Crf { get; } = new();

        public List<int> Present { get; } = [];

        public PinnedBuffer<int> PresentIndex { get; } = new();

        public PinnedBuffer<float> MaxCam { get; } = new();

        public PinnedBuffer<float> BgCam { get; } = new();

        public PinnedBuffer<byte> CamLabel { get; } = new();

        public PinnedBuffer<byte> LowLabel { get; } = new();

        public PinnedBuffer<float> LowFgMax { get; } = new();

        public PinnedBuffer<byte> HighIsBg { get; } = new();

        public PinnedBuffer<float> HighBg { get; } = new();

        public PinnedBuffer<byte> Sure { get; } = new();

        public PinnedBuffer<float> Values { get; } = new();
    }
}
