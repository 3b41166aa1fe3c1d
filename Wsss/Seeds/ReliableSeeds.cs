using Wsss.Imaging;
using Wsss.Seeds.Lattice;

namespace Wsss.Seeds;

/// <summary>
/// RRM's reliable regions (pseudo labels), spec section 3: two dense CRFs over [background, present
/// classes] with background powers 4 and 32, pruned by a per-class CAM percentile rule, a background CAM
/// rule and a CRF confidence threshold. The result is a byte map with 0 = background, c + 1 = class c
/// and <see cref="Ignore"/> (255) = unreliable.
/// </summary>
/// <remarks>
/// <para>Inputs per image: the uint8 RGB crop, the multi-hot image label over C classes and the
/// normalised CAMs (C x height x width, values in [0, 1]). Only the classes present in the label are
/// read; as in the reference, the CRFs run over background plus the present classes only.</para>
/// <para>Where the reference crashes (a class that wins CRF pixels but has no CAM value above
/// <see cref="ReliableSeedOptions.CamFloor"/> in its CAM region), the class here gets an empty sure
/// region. An image with no present class comes out as all background (its CRF has the single
/// background label).</para>
/// <para>Batches run images in parallel across <see cref="Threads"/>; the per-thread workspaces (CRF
/// lattices, buffers) persist between calls. Calls on one instance are serialised by a lock.</para>
/// <para>Managed code; the algorithm is in the internal <c>Wsss.Seeds.Lattice.ReliableSeedsCore</c>.</para>
/// </remarks>
public sealed class ReliableSeeds : IDisposable
{
    /// <summary>The label value of unreliable pixels.</summary>
    public const byte Ignore = 255;

    private readonly Lock gate = new();
    private ReliableSeedsCore? core = new();
    private float[] powered = [];
    private int threads;

    /// <summary>Creates the pruning engine (options default to the reference's; threads 0 = all cores).</summary>
    public ReliableSeeds(ReliableSeedOptions? options = null, int threads = 0)
    {
        SeedChecks.RequireThreads(threads);
        Options = options ?? new ReliableSeedOptions();
        this.threads = threads;
    }

    /// <summary>The pruning parameters.</summary>
    public ReliableSeedOptions Options { get; set; }

    /// <summary>
    /// Threads (0 means all cores). A batch of at least as many images as threads runs one image per
    /// thread; otherwise the threads left over work inside an image's CRFs.
    /// </summary>
    public int Threads
    {
        get => threads;
        set
        {
            SeedChecks.RequireThreads(value);
            threads = value;
        }
    }

    /// <summary>
    /// Seeds of one image. <paramref name="labels"/> has one entry per class (non-zero = present);
    /// <paramref name="cams"/> is classes x height x width.
    /// </summary>
    public byte[] Compute(RgbImage image, ReadOnlySpan<byte> labels, ReadOnlySpan<float> cams)
    {
        ArgumentNullException.ThrowIfNull(image);
        var output = new byte[image.Height * image.Width];
        ComputeBatch(image.Pixels, 1, image.Height, image.Width, labels, cams, labels.Length, output);
        return output;
    }

    /// <summary>Seeds of one image with a float multi-hot label (a class is present where its entry exceeds 0.5).</summary>
    public byte[] Compute(RgbImage image, ReadOnlySpan<float> labels, ReadOnlySpan<float> cams)
    {
        Span<byte> present = labels.Length <= 256 ? stackalloc byte[labels.Length] : new byte[labels.Length];
        for (int c = 0; c < labels.Length; c++)
        {
            present[c] = labels[c] > 0.5f ? (byte)1 : (byte)0;
        }

        return Compute(image, present, cams);
    }

    /// <summary>
    /// Seeds of a batch of equally sized images, computed in parallel.
    /// </summary>
    /// <param name="imagesHwc">count x height x width x 3 RGB bytes.</param>
    /// <param name="count">Number of images.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="labels">count x classes multi-hot bytes (non-zero = present).</param>
    /// <param name="cams">count x classes x height x width normalised CAMs.</param>
    /// <param name="classes">Number of classes C (at most 254).</param>
    /// <param name="output">count x height x width label bytes (0..C or 255).</param>
    public unsafe void ComputeBatch(
        ReadOnlySpan<byte> imagesHwc, int count, int height, int width, ReadOnlySpan<byte> labels, ReadOnlySpan<float> cams,
        int classes, Span<byte> output)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegative(classes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classes, 254);
        long pixels = (long)height * width;
        SeedChecks.RequireLength(imagesHwc.Length, count * pixels * 3, nameof(imagesHwc), "image bytes");
        SeedChecks.RequireLength(labels.Length, (long)count * classes, nameof(labels), "label entries");
        SeedChecks.RequireLength(cams.Length, count * classes * pixels, nameof(cams), "CAM values");
        SeedChecks.RequireLength(output.Length, count * pixels, nameof(output), "output labels");
        SeedParameters p = Options.ToParameters();
        float exponent = Options.CamExponent;
        lock (gate)
        {
            ReliableSeedsCore seeds = core ?? throw new ObjectDisposedException(nameof(ReliableSeeds));
            if (exponent != 1f)
            {
                // The caller's CAMs stay as they are: the exponent goes into a buffer reused across calls.
                if (powered.Length < cams.Length)
                {
                    powered = new float[cams.Length];
                }

                for (int i = 0; i < cams.Length; i++)
                {
                    float v = cams[i];
                    powered[i] = v > 0 ? MathF.Pow(v, exponent) : v;
                }

                cams = powered.AsSpan(0, cams.Length);
            }

            fixed (byte* img = imagesHwc)
            fixed (byte* lab = labels)
            fixed (float* cam = cams)
            fixed (byte* o = output)
            {
                seeds.Compute(img, count, height, width, lab, cam, classes, p, o, threads);
            }
        }
    }

    /// <summary>
    /// Seeds of a list of images (each with its label, one entry per class, and its classes x height x
    /// width CAMs). Equally sized images run in parallel in one batch; otherwise image by image.
    /// </summary>
    public byte[][] ComputeBatch(IReadOnlyList<RgbImage> images, IReadOnlyList<byte[]> labels, IReadOnlyList<float[]> cams)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(cams);
        if (labels.Count != images.Count || cams.Count != images.Count)
        {
            throw new ArgumentException(
                $"Got {images.Count} images, {labels.Count} labels and {cams.Count} CAM sets; they must match.");
        }

        int n = images.Count;
        var results = new byte[n][];
        if (n == 0)
        {
            return results;
        }

        int h = images[0].Height, w = images[0].Width, classes = labels[0].Length;
        bool uniform = true;
        for (int i = 0; i < n; i++)
        {
            uniform &= images[i].Height == h && images[i].Width == w && labels[i].Length == classes &&
                       cams[i].Length == (long)classes * h * w;
        }

        if (!uniform)
        {
            for (int i = 0; i < n; i++)
            {
                results[i] = Compute(images[i], labels[i], cams[i]);
            }

            return results;
        }

        long pixels = (long)h * w;
        var img = new byte[checked(n * pixels * 3)];
        var lab = new byte[checked(n * classes)];
        var cam = new float[checked(n * classes * pixels)];
        for (int i = 0; i < n; i++)
        {
            images[i].Pixels.CopyTo(img.AsSpan((int)(i * pixels * 3)));
            labels[i].CopyTo(lab.AsSpan(i * classes));
            cams[i].CopyTo(cam.AsSpan((int)(i * classes * pixels)));
        }

        var output = new byte[checked(n * pixels)];
        ComputeBatch(img, n, h, w, lab, cam, classes, output);
        for (int i = 0; i < n; i++)
        {
            results[i] = output.AsSpan((int)(i * pixels), (int)pixels).ToArray();
        }

        return results;
    }

    /// <summary>Releases the workspaces (CRF lattices and buffers); the instance cannot be used afterwards.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            core = null;
        }
    }
}
