using System.Globalization;
using System.Text;
using Wsss.Imaging;

namespace Wsss.Evaluation;

/// <summary>
/// A confusion matrix over <see cref="ClassCount"/> labels (background 0 plus the foreground classes
/// 1..C), accumulated over a whole split as the PASCAL VOC evaluation does (spec section 9), plus one
/// extra column for predictions of 255 ("no label", as seeds and reliable regions produce).
/// <para>Conventions, precisely:</para>
/// <list type="bullet">
/// <item>Ground-truth pixels of 255 are skipped entirely (counted in <see cref="IgnoredPixels"/> only).</item>
/// <item>A prediction of 255 on a counted pixel is a false negative of its ground-truth class and a false
/// positive of no class; it counts as wrong in <see cref="PixelAccuracy"/>.</item>
/// <item><c>IoU_c = TP / (TP + FP + FN)</c>; a class "occurs" when that union is positive, i.e. it appears in
/// the (non-ignored) ground truth or in the predictions on non-ignored pixels. <see cref="MeanIoU"/>
/// averages over occurring classes only (the usual nan-mean; on a full VOC split every class occurs and
/// this equals the devkit's mean over all 21).</item>
/// <item>Other values (between ClassCount and 254) are rejected: they are bugs, not labels.</item>
/// </list>
/// <para><see cref="Add(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/> is not thread-safe; to evaluate in parallel
/// give each thread its own matrix and <see cref="Merge"/> them (Merge locks its target, so many threads
/// may merge into one matrix).</para>
/// </summary>
public sealed class ConfusionMatrix
{
    private readonly long[] _counts; // [gt, pred] with pred in 0..ClassCount (the last column is "255")
    private readonly object _mergeLock = new();
    private long _ignored;

    /// <summary>Creates an empty matrix for labels 0..<paramref name="classCount"/>-1 (background + C classes).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="classCount"/> is below 1 or above 255.</exception>
    public ConfusionMatrix(int classCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classCount, 255);
        ClassCount = classCount;
        _counts = new long[classCount * (classCount + 1)];
    }

    /// <summary>Number of labels, background included (C + 1).</summary>
    public int ClassCount { get; }

    /// <summary>Pixels whose ground truth was 255 (skipped).</summary>
    public long IgnoredPixels => _ignored;

    /// <summary>Pixels with a valid ground truth (all pixels counted in the matrix).</summary>
    public long ValidPixels
    {
        get
        {
            long s = 0;
            foreach (long v in _counts)
            {
                s += v;
            }

            return s;
        }
    }

    /// <summary>Pixels with ground truth <paramref name="gt"/> predicted as <paramref name="predicted"/> (255 allowed for "no label").</summary>
    public long this[int gt, int predicted]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(gt);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(gt, ClassCount);
            int col = predicted == SegmentationMask.Ignore ? ClassCount : predicted;
            if (col < 0 || col > ClassCount)
            {
                throw new ArgumentOutOfRangeException(nameof(predicted));
            }

            return _counts[(gt * (ClassCount + 1)) + col];
        }
    }

    /// <summary>Adds one image: ground truth and prediction of the same size.</summary>
    /// <exception cref="ArgumentException">The sizes differ, or a value is neither a class nor 255.</exception>
    public void Add(SegmentationMask groundTruth, SegmentationMask prediction)
    {
        ArgumentNullException.ThrowIfNull(groundTruth);
        ArgumentNullException.ThrowIfNull(prediction);
        if (groundTruth.Height != prediction.Height || groundTruth.Width != prediction.Width)
        {
            throw new ArgumentException(
                $"Ground truth is {groundTruth.Height}x{groundTruth.Width} but the prediction is {prediction.Height}x{prediction.Width}.",
                nameof(prediction));
        }

        Add(groundTruth.Labels, prediction.Labels);
    }

    /// <summary>Adds pixels given as two label buffers of equal length.</summary>
    /// <exception cref="ArgumentException">The lengths differ, or a value is neither a class nor 255.</exception>
    public void Add(ReadOnlySpan<byte> groundTruth, ReadOnlySpan<byte> prediction)
    {
        if (groundTruth.Length != prediction.Length)
        {
            throw new ArgumentException($"Ground truth has {groundTruth.Length} pixels, the prediction {prediction.Length}.", nameof(prediction));
        }

        int k = ClassCount;
        long ignored = 0;
        long[] counts = _counts;
        for (int i = 0; i < groundTruth.Length; i++)
        {
            int g = groundTruth[i];
            if (g == SegmentationMask.Ignore)
            {
                ignored++;
                continue;
            }

            int p = prediction[i];
            if (g >= k || (p >= k && p != SegmentationMask.Ignore))
            {
                throw new ArgumentException(
                    $"Pixel {i} has ground truth {g} and prediction {p}, but the matrix has {k} classes (0..{k - 1}) and 255 only.",
                    g >= k ? nameof(groundTruth) : nameof(prediction));
            }

            counts[(g * (k + 1)) + (p == SegmentationMask.Ignore ? k : p)]++;
        }

        _ignored += ignored;
    }

    /// <summary>Adds another matrix's counts into this one (thread-safe with respect to other merges into this matrix).</summary>
    /// <exception cref="ArgumentException">The class counts differ.</exception>
    public void Merge(ConfusionMatrix other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.ClassCount != ClassCount)
        {
            throw new ArgumentException($"Cannot merge a {other.ClassCount}-class matrix into a {ClassCount}-class one.", nameof(other));
        }

        lock (_mergeLock)
        {
            for (int i = 0; i < _counts.Length; i++)
            {
                _counts[i] += other._counts[i];
            }

            _ignored += other._ignored;
        }
    }

    /// <summary>True positives of class <paramref name="c"/>.</summary>
    public long TruePositives(int c) => this[c, c];

    /// <summary>Pixels predicted as <paramref name="c"/> whose ground truth is another class.</summary>
    public long FalsePositives(int c)
    {
        long s = 0;
        for (int g = 0; g < ClassCount; g++)
        {
            if (g != c)
            {
                s += this[g, c];
            }
        }

        return s;
    }

    /// <summary>Pixels of ground-truth class <paramref name="c"/> predicted as anything else, 255 included.</summary>
    public long FalseNegatives(int c)
    {
        long s = 0;
        for (int p = 0; p <= ClassCount; p++)
        {
            if (p != c)
            {
                s += _counts[(c * (ClassCount + 1)) + p];
            }
        }

        return s;
    }

    /// <summary>Whether class <paramref name="c"/> occurs (TP + FP + FN &gt; 0).</summary>
    public bool Occurs(int c) => TruePositives(c) + FalsePositives(c) + FalseNegatives(c) > 0;

    /// <summary>IoU of class <paramref name="c"/>; NaN when the class does not occur.</summary>
    public double IoU(int c)
    {
        long union = TruePositives(c) + FalsePositives(c) + FalseNegatives(c);
        return union == 0 ? double.NaN : (double)TruePositives(c) / union;
    }

    /// <summary>IoU of every class (NaN for classes that do not occur).</summary>
    public double[] IoUs()
    {
        var r = new double[ClassCount];
        for (int c = 0; c < ClassCount; c++)
        {
            r[c] = IoU(c);
        }

        return r;
    }

    /// <summary>Mean IoU over the classes that occur; NaN when nothing was counted.</summary>
    public double MeanIoU
    {
        get
        {
            double sum = 0;
            int n = 0;
            for (int c = 0; c < ClassCount; c++)
            {
                double iou = IoU(c);
                if (!double.IsNaN(iou))
                {
                    sum += iou;
                    n++;
                }
            }

            return n == 0 ? double.NaN : sum / n;
        }
    }

    /// <summary>Correct pixels / valid pixels (predictions of 255 count as wrong); NaN when nothing was counted.</summary>
    public double PixelAccuracy
    {
        get
        {
            long valid = ValidPixels, correct = 0;
            for (int c = 0; c < ClassCount; c++)
            {
                correct += TruePositives(c);
            }

            return valid == 0 ? double.NaN : (double)correct / valid;
        }
    }

    /// <summary>Precision and coverage of the predictions, for seeds that label only part of the pixels.</summary>
    public SeedQuality SeedQuality => SeedQuality.From(this);

    /// <summary>A plain-text table of per-class IoU plus mIoU and pixel accuracy; <paramref name="classNames"/> names labels 0..C (optional).</summary>
    public string Format(IReadOnlyList<string>? classNames = null)
    {
        var sb = new StringBuilder();
        for (int c = 0; c < ClassCount; c++)
        {
            string name = classNames != null && c < classNames.Count ? classNames[c] : (c == 0 ? "background" : $"class {c}");
            double iou = IoU(c);
            sb.Append(CultureInfo.InvariantCulture, $"{name,-16} {(double.IsNaN(iou) ? "     -" : (iou * 100).ToString("F2", CultureInfo.InvariantCulture).PadLeft(6))}\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"{"mIoU",-16} {MeanIoU * 100,6:F2}\n");
        sb.Append(CultureInfo.InvariantCulture, $"{"pixel accuracy",-16} {PixelAccuracy * 100,6:F2}\n");
        return sb.ToString();
    }
}

/// <summary>
/// Quality of seeds / reliable regions (spec section 9): of the pixels whose ground truth is not 255,
/// <see cref="Coverage"/> is the share the seeds label (seed value not 255) and <see cref="Precision"/> is
/// the share of those labelled pixels whose seed equals the ground truth.
/// </summary>
/// <param name="Precision">Correct labelled pixels / labelled pixels (NaN when none is labelled).</param>
/// <param name="Coverage">Labelled pixels / valid pixels (NaN when there are no valid pixels).</param>
/// <param name="LabelledPixels">Valid pixels the seeds label.</param>
/// <param name="CorrectPixels">Labelled pixels whose seed equals the ground truth.</param>
/// <param name="ValidPixels">Pixels whose ground truth is not 255.</param>
public readonly record struct SeedQuality(double Precision, double Coverage, long LabelledPixels, long CorrectPixels, long ValidPixels)
{
    /// <summary>Reads precision and coverage off a confusion matrix accumulated with seeds as predictions.</summary>
    public static SeedQuality From(ConfusionMatrix matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        long valid = matrix.ValidPixels, unlabelled = 0, correct = 0;
        for (int c = 0; c < matrix.ClassCount; c++)
        {
            unlabelled += matrix[c, SegmentationMask.Ignore];
            correct += matrix.TruePositives(c);
        }

        long labelled = valid - unlabelled;
        return new SeedQuality(
            labelled == 0 ? double.NaN : (double)correct / labelled,
            valid == 0 ? double.NaN : (double)labelled / valid,
            labelled,
            correct,
            valid);
    }
}
