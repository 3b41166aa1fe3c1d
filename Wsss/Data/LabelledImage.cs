using Wsss.Imaging;

namespace Wsss.Data;

/// <summary>
/// A decoded training or evaluation sample: the image, its image-level labels (the only supervision
/// the weakly supervised method trains on) and, when available, the ground-truth mask used for
/// evaluation. Labels are 0-based foreground class indices; in the mask, class c is label c + 1.
/// </summary>
public class LabelledImage
{
    /// <summary>Creates a sample; the label list is sorted and de-duplicated.</summary>
    /// <exception cref="ArgumentException">The mask size differs from the image size, or names and labels do not pair up.</exception>
    public LabelledImage(string id, RgbImage image, IEnumerable<int> labels, IReadOnlyList<string> classNames, SegmentationMask? mask = null)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (mask != null && (mask.Height != image.Height || mask.Width != image.Width))
        {
            throw new ArgumentException($"Sample '{id}': mask is {mask.Height}x{mask.Width} but the image is {image.Height}x{image.Width}.", nameof(mask));
        }

        int[] sorted = labels.Distinct().Order().ToArray();
        foreach (int c in sorted)
        {
            if (c < 0 || c >= classNames.Count)
            {
                throw new ArgumentException($"Sample '{id}': label {c} is outside the {classNames.Count} classes.", nameof(labels));
            }
        }

        Id = id;
        Image = image;
        Mask = mask;
        Labels = sorted;
        LabelNames = sorted.Select(c => classNames[c]).ToArray();
    }

    private LabelledImage(LabelledImage source, RgbImage image, SegmentationMask? mask)
    {
        Id = source.Id;
        Image = image;
        Mask = mask;
        Labels = source.Labels;
        LabelNames = source.LabelNames;
    }

    /// <summary>
    /// This sample scaled down so that its longer side is at most <paramref name="maxSide"/> (the image with an area
    /// filter, the mask nearest); the sample itself when it already fits or <paramref name="maxSide"/> is 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxSide"/> is negative.</exception>
    public LabelledImage Downscaled(int maxSide)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxSide);
        var (h, w) = ImageResize.FitWithin(Image.Height, Image.Width, maxSide);
        if (h == Image.Height && w == Image.Width)
        {
            return this;
        }

        var mask = Mask is null ? null : new SegmentationMask(h, w, ImageResize.ResizePlane(Mask.Labels, Mask.Height, Mask.Width, h, w, ResizeMode.Nearest));
        return new LabelledImage(this, Image.Resize(h, w, ResizeMode.Area), mask);
    }

    /// <summary>An identifier (file stem for datasets on disk, the index for synthetic ones).</summary>
    public string Id { get; }

    /// <summary>The RGB image.</summary>
    public RgbImage Image { get; }

    /// <summary>The ground-truth mask (0 background, c + 1 class c, 255 ignore), or null when there is none.</summary>
    public SegmentationMask? Mask { get; }

    /// <summary>The classes present, 0-based, increasing.</summary>
    public int[] Labels { get; }

    /// <summary>The names of <see cref="Labels"/>, in the same order.</summary>
    public string[] LabelNames { get; }

    /// <summary>The labels as a multi-hot vector of length <paramref name="classCount"/> (1 for present classes).</summary>
    public float[] MultiHot(int classCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        var v = new float[classCount];
        foreach (int c in Labels)
        {
            if (c >= classCount)
            {
                throw new ArgumentOutOfRangeException(nameof(classCount), $"Label {c} does not fit a vector of {classCount}.");
            }

            v[c] = 1f;
        }

        return v;
    }
}
