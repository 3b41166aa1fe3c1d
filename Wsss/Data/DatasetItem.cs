using Wsss.Imaging;

namespace Wsss.Data;

/// <summary>
/// A dataset problem found while loading or validating: the message names every offending file (and
/// line, for list and label files). <see cref="Problems"/> holds each problem separately; the message
/// shows the first few so that a broken dataset is fixed in one pass rather than one error at a time.
/// </summary>
public sealed class DatasetException : Exception
{
    private const int ShownInMessage = 15;

    /// <summary>Creates the exception from one or more problem descriptions.</summary>
    public DatasetException(IReadOnlyList<string> problems)
        : base(Describe(problems))
    {
        Problems = problems;
    }

    /// <summary>Every problem found, one line each ("file:line: what is wrong").</summary>
    public IReadOnlyList<string> Problems { get; }

    private static string Describe(IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        string head = problems.Count == 1 ? "Dataset problem: " : $"{problems.Count} dataset problems:\n  ";
        string shown = string.Join("\n  ", problems.Take(ShownInMessage));
        return problems.Count > ShownInMessage ? $"{head}{shown}\n  ... and {problems.Count - ShownInMessage} more" : head + shown;
    }
}

/// <summary>
/// One image of a dataset on disk, not yet decoded: where its image and mask are and which classes it
/// contains. Decoding is left to the consumer (<see cref="Load"/> takes the image decoder), so a dataset
/// of thousands of images loads in milliseconds and decoding can run on worker threads.
/// </summary>
public sealed class DatasetItem
{
    /// <summary>Creates an item.</summary>
    public DatasetItem(string id, string imagePath, IReadOnlyList<int> labels, IReadOnlyList<string> classNames, string? maskPath, string labelSource)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(imagePath);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        Id = id;
        ImagePath = imagePath;
        Labels = labels.Distinct().Order().ToArray();
        LabelNames = Labels.Select(c => classNames[c]).ToArray();
        ClassNames = classNames;
        MaskPath = maskPath;
        LabelSource = labelSource ?? string.Empty;
    }

    /// <summary>The image's identifier (its file name without extension).</summary>
    public string Id { get; }

    /// <summary>Full path of the image file.</summary>
    public string ImagePath { get; }

    /// <summary>Full path of the ground-truth mask (palette PNG), or null when the dataset has none for this image.</summary>
    public string? MaskPath { get; }

    /// <summary>The image-level labels: 0-based class indices, increasing (may be empty only when the dataset allows background-only images).</summary>
    public int[] Labels { get; }

    /// <summary>The names of <see cref="Labels"/>.</summary>
    public string[] LabelNames { get; }

    /// <summary>The dataset's class names (index = class).</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Where the labels came from ("file:line" of the CSV row, or the annotation file), for error messages.</summary>
    public string LabelSource { get; }

    /// <summary>The labels as a multi-hot vector over the dataset's classes.</summary>
    public float[] MultiHot()
    {
        var v = new float[ClassNames.Count];
        foreach (int c in Labels)
        {
            v[c] = 1f;
        }

        return v;
    }

    /// <summary>
    /// Decodes the mask, or returns null when the item has none. Values must be 0..C or 255.
    /// </summary>
    /// <exception cref="ImageFormatException">The mask file is not a readable palette/grayscale PNG.</exception>
    /// <exception cref="DatasetException">The mask holds a value that is neither a class nor 255.</exception>
    public SegmentationMask? LoadMask()
    {
        if (MaskPath == null)
        {
            return null;
        }

        SegmentationMask mask = PalettePng.ReadMask(MaskPath);
        int max = ClassNames.Count;
        foreach (byte v in mask.Labels)
        {
            if (v > max && v != SegmentationMask.Ignore)
            {
                throw new DatasetException([$"{MaskPath}: mask value {v} is neither background, one of the {max} classes (1..{max}) nor 255."]);
            }
        }

        return mask;
    }

    /// <summary>
    /// Decodes the image with <paramref name="decodeImage"/> (for example the library's image codec) and,
    /// when <paramref name="withMask"/>, the mask, checking that both have the same size.
    /// </summary>
    /// <exception cref="DatasetException">The mask and image sizes differ, or the mask holds invalid values.</exception>
    public LabelledImage Load(Func<string, RgbImage> decodeImage, bool withMask = true)
    {
        ArgumentNullException.ThrowIfNull(decodeImage);
        RgbImage image = decodeImage(ImagePath);
        SegmentationMask? mask = withMask ? LoadMask() : null;
        if (mask != null && (mask.Height != image.Height || mask.Width != image.Width))
        {
            throw new DatasetException([$"{MaskPath}: mask is {mask.Height}x{mask.Width} but its image {ImagePath} is {image.Height}x{image.Width}."]);
        }

        return new LabelledImage(Id, image, Labels, ClassNames, mask);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Id} [{string.Join(' ', LabelNames)}]";
}
