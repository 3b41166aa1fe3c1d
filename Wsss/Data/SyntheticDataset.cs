using System.Collections;
using Wsss.Imaging;

namespace Wsss.Data;

/// <summary>
/// Options of <see cref="SyntheticDataset"/>. The defaults give 96x96 images with one to three objects
/// of three classes, sizes such that a small CNN can learn the classes from image-level labels in
/// minutes on a CPU while localisation still has to be learnt (objects overlap, vary in scale, colour
/// and texture, and sit on textured backgrounds).
/// </summary>
public sealed class SyntheticDatasetOptions
{
    /// <summary>Side of the square images in pixels. Default 96; at least 32.</summary>
    public int ImageSize { get; set; } = 96;

    /// <summary>Number of foreground classes, 1 to <see cref="SyntheticDataset.MaxClassCount"/>. Default 3.</summary>
    public int ClassCount { get; set; } = 3;

    /// <summary>Fewest objects per image (at least 1). Default 1.</summary>
    public int MinObjects { get; set; } = 1;

    /// <summary>Most objects per image (before dropping hidden ones). Default 3.</summary>
    public int MaxObjects { get; set; } = 3;

    /// <summary>Smallest object diameter as a fraction of <see cref="ImageSize"/>. Default 0.25.</summary>
    public double MinScale { get; set; } = 0.25;

    /// <summary>Largest object diameter as a fraction of <see cref="ImageSize"/> (at most 1). Default 0.55.</summary>
    public double MaxScale { get; set; } = 0.55;

    /// <summary>
    /// An object whose class ends up with fewer visible pixels than this (because later objects cover it)
    /// is removed from the image, so labels and masks always agree. Default 40.
    /// </summary>
    public int MinVisiblePixels { get; set; } = 40;

    /// <summary>Largest per-channel shift of an object's colour from its class colour. Default 30.</summary>
    public int ColorJitter { get; set; } = 30;

    /// <summary>Amplitude of the per-pixel noise on objects and background (0-255 scale). Default 12.</summary>
    public int Noise { get; set; } = 12;

    /// <summary>Seed of the whole dataset; sample i depends only on (Seed, i). Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>Checks the values and throws an <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        static void Fail(string name, object value, string rule) => throw new ArgumentException($"SyntheticDatasetOptions.{name} = {value}: {rule}.", name);

        if (ImageSize < 32)
        {
            Fail(nameof(ImageSize), ImageSize, "must be at least 32");
        }

        if (ClassCount < 1 || ClassCount > SyntheticDataset.MaxClassCount)
        {
            Fail(nameof(ClassCount), ClassCount, $"must be between 1 and {SyntheticDataset.MaxClassCount}");
        }

        if (MinObjects < 1)
        {
            Fail(nameof(MinObjects), MinObjects, "must be at least 1");
        }

        if (MaxObjects < MinObjects)
        {
            Fail(nameof(MaxObjects), MaxObjects, $"must be at least MinObjects ({MinObjects})");
        }

        if (!(MinScale > 0) || !(MaxScale <= 1) || MaxScale < MinScale)
        {
            Fail(nameof(MinScale), $"{MinScale}..{MaxScale}", "needs 0 < MinScale <= MaxScale <= 1");
        }

        // The smallest object drawn alone must count as visible, or an image could end up without labels.
        double minRadius = MinScale * ImageSize / 2;
        double smallestArea = 0.5 * minRadius * minRadius; // below every shape's area at that radius
        if (MinVisiblePixels < 1 || MinVisiblePixels > smallestArea)
        {
            Fail(nameof(MinVisiblePixels), MinVisiblePixels, $"must be between 1 and {(int)smallestArea} for these sizes");
        }

        if (ColorJitter is < 0 or > 60)
        {
            Fail(nameof(ColorJitter), ColorJitter, "must be between 0 and 60");
        }

        if (Noise is < 0 or > 60)
        {
            Fail(nameof(Noise), Noise, "must be between 0 and 60");
        }
    }

    /// <summary>A copy (the dataset keeps its own, so later edits do not change it).</summary>
    public SyntheticDatasetOptions Clone() => (SyntheticDatasetOptions)MemberwiseClone();
}

/// <summary>One drawn object: its class, centre, radius (half the diameter) and rotation.</summary>
/// <param name="ClassIndex">0-based class.</param>
/// <param name="CenterX">Centre column in pixels.</param>
/// <param name="CenterY">Centre row in pixels.</param>
/// <param name="Radius">Half the object's extent in pixels; the object lies within the circle of this radius.</param>
/// <param name="Rotation">Rotation in radians.</param>
public readonly record struct SyntheticObject(int ClassIndex, double CenterX, double CenterY, double Radius, double Rotation);

/// <summary>A synthetic sample: a <see cref="LabelledImage"/> with its ground-truth mask and the objects drawn (back to front).</summary>
public sealed class SyntheticSample : LabelledImage
{
    internal SyntheticSample(int index, RgbImage image, SegmentationMask mask, IEnumerable<int> labels, IReadOnlyList<string> classNames, IReadOnlyList<SyntheticObject> objects)
        : base(index.ToString(System.Globalization.CultureInfo.InvariantCulture), image, labels, classNames, mask)
    {
        Index = index;
        Objects = objects;
    }

    /// <summary>The sample's index in its dataset.</summary>
    public int Index { get; }

    /// <summary>The objects in drawing order (later ones occlude earlier ones).</summary>
    public IReadOnlyList<SyntheticObject> Objects { get; }

    /// <summary>The ground-truth mask (never null for synthetic samples).</summary>
    public new SegmentationMask Mask => base.Mask!;
}

/// <summary>
/// A deterministic synthetic weakly supervised segmentation dataset, for tests, demos and quick
/// experiments without downloads. Each class has its own shape (disc, square, triangle, ring, cross,
/// diamond), colour family (jittered per object) and texture (stripes, checker, speckle, ...); objects
/// are placed, scaled and rotated at random, may overlap (later ones occlude earlier ones), and lie on a
/// low-saturation gradient-plus-noise background whose colours differ from every object colour.
/// Samples are generated on demand: sample i depends only on (Seed, i), so indexing is repeatable, in
/// any order, from any thread.
/// </summary>
public sealed class SyntheticDataset : IReadOnlyList<SyntheticSample>
{
    /// <summary>The most classes the generator defines.</summary>
    public const int MaxClassCount = 6;

    private static readonly string[] Names = ["disc", "square", "triangle", "ring", "cross", "diamond"];

    // Saturated class colours: red, green, blue, yellow, magenta, cyan families.
    private static readonly (int R, int G, int B)[] BaseColors =
    [
        (205, 45, 40), (45, 170, 60), (50, 80, 215), (225, 200, 40), (190, 50, 190), (40, 195, 205),
    ];

    private readonly SyntheticDatasetOptions _options;

    /// <summary>Creates a dataset of <paramref name="count"/> samples.</summary>
    /// <exception cref="ArgumentException">The options are invalid (the message names the option).</exception>
    public SyntheticDataset(SyntheticDatasetOptions options, int count)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        options.Validate();
        _options = options.Clone();
        Count = count;
        ClassNames = Names[..options.ClassCount];
    }

    /// <summary>All class names the generator knows, in class order.</summary>
    public static IReadOnlyList<string> AllClassNames => Names;

    /// <summary>The names of this dataset's classes (the first <see cref="SyntheticDatasetOptions.ClassCount"/> of <see cref="AllClassNames"/>).</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>A copy of the options the dataset was created with.</summary>
    public SyntheticDatasetOptions Options => _options.Clone();

    /// <summary>Number of samples.</summary>
    public int Count { get; }

    /// <summary>Generates sample <paramref name="index"/> (a new object each call; identical content each time).</summary>
    public SyntheticSample this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            return Generate(_options, ClassNames, index);
        }
    }

    /// <inheritdoc/>
    public IEnumerator<SyntheticSample> GetEnumerator()
    {
        for (int i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static SyntheticSample Generate(SyntheticDatasetOptions o, IReadOnlyList<string> classNames, int index)
    {
        // System.Random with a seed uses a fixed algorithm, so the stream is the same on every platform
        // and runtime; mixing (Seed, index) keeps neighbouring samples unrelated.
        var rng = new Random(MixSeed(o.Seed, index));
        int s = o.ImageSize;

        int objectCount = rng.Next(o.MinObjects, o.MaxObjects + 1);
        var objects = new List<SyntheticObject>(objectCount);
        var colors = new List<(int R, int G, int B)>(objectCount);
        var textures = new List<(double Phase, double Angle)>(objectCount);
        for (int i = 0; i < objectCount; i++)
        {
            int cls = rng.Next(o.ClassCount);
            double scale = o.MinScale + ((o.MaxScale - o.MinScale) * rng.NextDouble());
            double r = scale * s / 2;
            // The centre keeps the whole bounding circle inside the image.
            double cx = r + (rng.NextDouble() * (s - 1 - (2 * r)));
            double cy = r + (rng.NextDouble() * (s - 1 - (2 * r)));
            double rot = (rng.NextDouble() - 0.5) * (Math.PI / 4.5); // +-20 degrees keeps square and diamond apart
            objects.Add(new SyntheticObject(cls, cx, cy, r, rot));
            var (br, bg, bb) = BaseColors[cls];
            int shared = rng.Next(-o.ColorJitter, o.ColorJitter + 1) / 2;
            colors.Add((
                Clamp(br + shared + rng.Next(-o.ColorJitter, o.ColorJitter + 1) / 2),
                Clamp(bg + shared + rng.Next(-o.ColorJitter, o.ColorJitter + 1) / 2),
                Clamp(bb + shared + rng.Next(-o.ColorJitter, o.ColorJitter + 1) / 2)));
            textures.Add((rng.NextDouble() * 8, rng.NextDouble() * Math.PI));
        }

        // Drop objects whose class is (almost) hidden by later ones, then repaint, until labels and mask agree.
        var mask = new SegmentationMask(s, s);
        var owner = new int[s * s];
        while (true)
        {
            Array.Fill(owner, -1);
            for (int i = 0; i < objects.Count; i++)
            {
                Rasterize(objects[i], s, (y, x) => owner[(y * s) + x] = i);
            }

            var visible = new int[o.ClassCount];
            foreach (int i in owner)
            {
                if (i >= 0)
                {
                    visible[objects[i].ClassIndex]++;
                }
            }

            int drop = objects.FindIndex(obj => visible[obj.ClassIndex] < o.MinVisiblePixels);
            if (drop < 0)
            {
                break;
            }

            objects.RemoveAt(drop);
            colors.RemoveAt(drop);
            textures.RemoveAt(drop);
        }

        var image = new RgbImage(s, s);
        PaintBackground(image, rng, o.Noise);
        byte[] px = image.Pixels;
        for (int p = 0; p < owner.Length; p++)
        {
            int i = owner[p];
            if (i < 0)
            {
                continue;
            }

            SyntheticObject obj = objects[i];
            mask.Labels[p] = (byte)(obj.ClassIndex + 1);
            int y = p / s, x = p % s;
            double shade = Texture(obj.ClassIndex, x, y, textures[i].Phase, textures[i].Angle, rng);
            var (cr, cg, cb) = colors[i];
            px[p * 3] = Clamp((int)(cr * shade) + Noise(rng, o.Noise));
            px[(p * 3) + 1] = Clamp((int)(cg * shade) + Noise(rng, o.Noise));
            px[(p * 3) + 2] = Clamp((int)(cb * shade) + Noise(rng, o.Noise));
        }

        int[] labels = objects.Select(obj => obj.ClassIndex).Distinct().Order().ToArray();
        return new SyntheticSample(index, image, mask, labels, classNames, objects.AsReadOnly());
    }

    /// <summary>Whether the point (u, v), in the object's frame scaled to its radius, lies inside the class's shape.</summary>
    internal static bool Inside(int cls, double u, double v)
    {
        double au = Math.Abs(u), av = Math.Abs(v);
        return cls switch
        {
            0 => (u * u) + (v * v) <= 1, // disc
            1 => au <= 0.78 && av <= 0.78, // square
            2 => v <= 0.7 && v >= -0.95 && au <= 0.95 * (v + 0.95) / 1.65, // triangle, apex up
            3 => (u * u) + (v * v) <= 1 && (u * u) + (v * v) >= 0.3, // ring
            4 => (au <= 0.3 && av <= 0.95) || (av <= 0.3 && au <= 0.95), // cross
            _ => (au / 0.62) + av <= 1, // diamond (taller than wide, unlike a turned square)
        };
    }

    private static void Rasterize(SyntheticObject obj, int size, Action<int, int> set)
    {
        int y0 = Math.Max(0, (int)Math.Floor(obj.CenterY - obj.Radius));
        int y1 = Math.Min(size - 1, (int)Math.Ceiling(obj.CenterY + obj.Radius));
        int x0 = Math.Max(0, (int)Math.Floor(obj.CenterX - obj.Radius));
        int x1 = Math.Min(size - 1, (int)Math.Ceiling(obj.CenterX + obj.Radius));
        double cos = Math.Cos(obj.Rotation), sin = Math.Sin(obj.Rotation);
        for (int y = y0; y <= y1; y++)
        {
            for (int x = x0; x <= x1; x++)
            {
                double dx = (x - obj.CenterX) / obj.Radius, dy = (y - obj.CenterY) / obj.Radius;
                double u = (cos * dx) + (sin * dy), v = (-sin * dx) + (cos * dy);
                if (Inside(obj.ClassIndex, u, v))
                {
                    set(y, x);
                }
            }
        }
    }

    /// <summary>Brightness factor of a class's texture at a pixel, around 1.</summary>
    private static double Texture(int cls, int x, int y, double phase, double angle, Random rng)
    {
        switch (cls)
        {
            case 0: // fine horizontal stripes
                return ((int)Math.Floor((y + phase) / 3) & 1) == 0 ? 1.0 : 0.78;
            case 1: // checker
                return ((((int)Math.Floor((x + phase) / 5)) + ((int)Math.Floor((y + phase) / 5))) & 1) == 0 ? 1.0 : 0.75;
            case 2: // oblique stripes at a random angle
                {
                    double t = (x * Math.Cos(angle)) + (y * Math.Sin(angle)) + phase;
                    return 0.85 + (0.15 * Math.Sin(t * 1.3));
                }

            case 3: // speckle
                return 0.8 + (0.25 * rng.NextDouble());
            case 4: // vertical stripes
                return ((int)Math.Floor((x + phase) / 4) & 1) == 0 ? 1.0 : 0.8;
            default: // dots
                {
                    double fx = ((x + phase) % 6) - 3, fy = ((y + phase) % 6) - 3;
                    return (fx * fx) + (fy * fy) < 3 ? 0.72 : 1.0;
                }
        }
    }

    private static void PaintBackground(RgbImage image, Random rng, int noise)
    {
        // Two low-saturation colours (gray plus a small tint) joined by a linear gradient at a random
        // angle, plus a few soft blobs: textured, but never in the saturated object colour families.
        (double R, double G, double B) Dull()
        {
            double gray = 50 + (rng.NextDouble() * 150);
            return (gray + rng.Next(-22, 23), gray + rng.Next(-22, 23), gray + rng.Next(-22, 23));
        }

        var a = Dull();
        var b = Dull();
        double angle = rng.NextDouble() * 2 * Math.PI;
        double ca = Math.Cos(angle), sa = Math.Sin(angle);
        int s = image.Width;
        int blobCount = rng.Next(0, 4);
        var blobs = new (double X, double Y, double R, double Delta)[blobCount];
        for (int i = 0; i < blobCount; i++)
        {
            blobs[i] = (rng.NextDouble() * s, rng.NextDouble() * s, (0.1 + (rng.NextDouble() * 0.25)) * s, rng.Next(-35, 36));
        }

        byte[] px = image.Pixels;
        for (int y = 0; y < s; y++)
        {
            for (int x = 0; x < s; x++)
            {
                double t = 0.5 + ((((x - (s / 2.0)) * ca) + ((y - (s / 2.0)) * sa)) / (s * 1.42));
                double shift = 0;
                foreach (var blob in blobs)
                {
                    double d2 = (((x - blob.X) * (x - blob.X)) + ((y - blob.Y) * (y - blob.Y))) / (blob.R * blob.R);
                    shift += blob.Delta * Math.Exp(-d2);
                }

                int p = ((y * s) + x) * 3;
                px[p] = Clamp((int)(a.R + ((b.R - a.R) * t) + shift) + Noise(rng, noise));
                px[p + 1] = Clamp((int)(a.G + ((b.G - a.G) * t) + shift) + Noise(rng, noise));
                px[p + 2] = Clamp((int)(a.B + ((b.B - a.B) * t) + shift) + Noise(rng, noise));
            }
        }
    }

    private static int Noise(Random rng, int amplitude) => amplitude == 0 ? 0 : rng.Next(-amplitude, amplitude + 1);

    private static byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);

    private static int MixSeed(int seed, int index)
    {
        // SplitMix64 finaliser over (seed, index).
        ulong z = ((ulong)(uint)seed << 32) ^ (uint)index;
        z += 0x9E3779B97F4A7C15ul;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ul;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBul;
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }
}
