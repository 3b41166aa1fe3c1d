using System.Collections;
using System.Xml;
using System.Xml.Linq;
using Wsss.Imaging;

namespace Wsss.Data;

/// <summary>Where a PASCAL VOC layout's image-level labels come from.</summary>
public enum VocLabelSource
{
    /// <summary>The CSV named by <see cref="VocDatasetOptions.LabelsCsv"/> if set, else root/image_labels.csv if it exists, else root/Annotations/*.xml.</summary>
    Auto,

    /// <summary>A CSV of <c>image,labels</c> rows (see <see cref="ImageDataset"/>).</summary>
    Csv,

    /// <summary>VOC XML annotations (root/Annotations/{id}.xml, every <c>object/name</c>).</summary>
    Annotations,
}

/// <summary>Options shared by the dataset readers; every default is stated on its property.</summary>
public abstract class DatasetOptionsBase
{
    /// <summary>
    /// The class names in class order (class c is mask value c + 1). Names in label files are matched
    /// case-insensitively. Default: the 20 PASCAL VOC classes for VOC layouts; for folder layouts, the
    /// sorted distinct names found in the labels CSV.
    /// </summary>
    public IReadOnlyList<string>? ClassNames { get; set; }

    /// <summary>
    /// Accept images whose label set is empty (background-only images). Default false: an empty label
    /// set is reported as an error with its file and line, since weak supervision needs labels.
    /// </summary>
    public bool AllowBackgroundOnlyImages { get; set; }

    /// <summary>Report images without a mask as errors (for evaluation splits). Default false.</summary>
    public bool RequireMasks { get; set; }

    /// <summary>
    /// Compare each mask's size with its image's at load time, reading only the file headers (PNG IHDR,
    /// JPEG SOF). Default true; costs two small reads per image.
    /// </summary>
    public bool CheckMaskSizes { get; set; } = true;
}

/// <summary>Options of <see cref="ImageDataset.LoadVoc"/>.</summary>
public sealed class VocDatasetOptions : DatasetOptionsBase
{
    /// <summary>The split: root/ImageSets/Segmentation/{Split}.txt lists its image ids. Default "train"; null takes every image that has labels.</summary>
    public string? Split { get; set; } = "train";

    /// <summary>Where the image-level labels come from. Default <see cref="VocLabelSource.Auto"/>.</summary>
    public VocLabelSource LabelSource { get; set; } = VocLabelSource.Auto;

    /// <summary>Path of the labels CSV (relative paths are taken from the root). Default null (root/image_labels.csv when present).</summary>
    public string? LabelsCsv { get; set; }

    /// <summary>Extension of the files in JPEGImages. Default ".jpg".</summary>
    public string ImageExtension { get; set; } = ".jpg";

    /// <summary>
    /// A folder of palette-PNG masks named {id}.png to read instead of root/SegmentationClass, e.g. the pseudo masks
    /// of the two-step variant (relative paths are taken from the current directory). Default null (SegmentationClass).
    /// </summary>
    public string? MaskFolder { get; set; }
}

/// <summary>Options of <see cref="ImageDataset.LoadFolder"/>.</summary>
public sealed class FolderDatasetOptions : DatasetOptionsBase
{
    /// <summary>A folder of palette-PNG masks named {image stem}.png. Default null (no masks).</summary>
    public string? MaskFolder { get; set; }

    /// <summary>
    /// Extensions tried, in order, when a CSV row names an image without extension. Default .jpg, .jpeg, .png, .webp,
    /// .bmp (what <see cref="Imaging.ImageCodec"/> decodes).
    /// </summary>
    public IReadOnlyList<string> ImageExtensions { get; set; } = [".jpg", ".jpeg", ".png", ".webp", ".bmp"];
}

/// <summary>
/// A dataset of images on disk with image-level labels and optional ground-truth masks, read from
/// either the PASCAL VOC layout (<see cref="LoadVoc"/>) or a plain folder plus a labels CSV
/// (<see cref="LoadFolder"/>). Loading reads only lists, label files and (optionally) file headers;
/// images are decoded later through <see cref="DatasetItem.Load"/>. Every problem found (unknown class
/// names, missing images or masks, wrong mask sizes, empty label sets, duplicate rows) is collected and
/// thrown as one <see cref="DatasetException"/> whose lines name the file and line.
/// <para>Labels CSV format: an optional header row <c>image,labels</c>, then one row per image: the image
/// (an id / file stem, or a file name relative to the image folder) and its class names separated by
/// spaces or ';' (any white space, '|' and, in a quoted field, ',' separate too). Lines that are empty or start
/// with '#' are skipped.</para>
/// </summary>
public sealed class ImageDataset : IReadOnlyList<DatasetItem>
{
    /// <summary>The 20 PASCAL VOC classes in their standard order (mask values 1..20).</summary>
    public static IReadOnlyList<string> VocClassNames { get; } =
    [
        "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ];

    private const int MaxFileNameLength = 255;
    private const int MaxClasses = 254;

    private readonly DatasetItem[] _items;

    private ImageDataset(string root, IReadOnlyList<string> classNames, DatasetItem[] items)
    {
        Root = root;
        ClassNames = classNames;
        _items = items;
    }

    /// <summary>The dataset's root folder (VOC root, or the image folder).</summary>
    public string Root { get; }

    /// <summary>Class names in class order (without background).</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Number of images.</summary>
    public int Count => _items.Length;

    /// <summary>The item at <paramref name="index"/>.</summary>
    public DatasetItem this[int index] => _items[index];

    /// <inheritdoc/>
    public IEnumerator<DatasetItem> GetEnumerator() => ((IEnumerable<DatasetItem>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    /// <summary>
    /// Reads a PASCAL VOC layout: root/JPEGImages/{id}.jpg, optional root/SegmentationClass/{id}.png (or
    /// <see cref="VocDatasetOptions.MaskFolder"/>/{id}.png),
    /// root/ImageSets/Segmentation/{split}.txt, and labels from a CSV or root/Annotations/{id}.xml.
    /// </summary>
    /// <exception cref="DatasetException">One or more problems, each naming its file (and line).</exception>
    /// <exception cref="DirectoryNotFoundException">The root folder does not exist.</exception>
    public static ImageDataset LoadVoc(string root, VocDatasetOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        options ??= new VocDatasetOptions();
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"VOC dataset root not found: {root}");
        }

        IReadOnlyList<string> classNames = options.ClassNames ?? VocClassNames;
        var index = ClassIndex(classNames);
        var problems = new List<string>();
        string imageDir = Path.Combine(root, "JPEGImages");
        string maskDir = options.MaskFolder is { } masks ? Path.GetFullPath(masks) : Path.Combine(root, "SegmentationClass");
        if (options.MaskFolder is not null && !Directory.Exists(maskDir))
        {
            throw new DirectoryNotFoundException($"Mask folder not found: {maskDir}");
        }

        // Which ids, and where each was listed (for messages).
        List<(string Id, string Where)>? ids = null;
        if (options.Split != null)
        {
            string list = Path.Combine(root, "ImageSets", "Segmentation", options.Split + ".txt");
            if (!File.Exists(list))
            {
                throw new DatasetException([$"{list}: split list not found (VocDatasetOptions.Split = \"{options.Split}\")."]);
            }

            ids = [];
            var seen = new HashSet<string>(StringComparer.Ordinal);
            int lineNo = 0;
            foreach (string line in File.ReadLines(list))
            {
                lineNo++;
                string id = line.Trim().Split((char[])[' ', '\t'], 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? string.Empty;
                if (id.Length == 0)
                {
                    continue;
                }

                // No file system names a file this long; quoting such an "id" in every message it causes only bloats the error.
                if (id.Length > MaxFileNameLength)
                {
                    problems.Add($"{list}:{lineNo}: an image id of {id.Length} characters is longer than any file name ({MaxFileNameLength}).");
                    continue;
                }

                if (!seen.Add(id))
                {
                    problems.Add($"{list}:{lineNo}: image '{id}' is listed twice.");
                    continue;
                }

                ids.Add((id, $"{list}:{lineNo}"));
            }
        }

        VocLabelSource source = options.LabelSource;
        string? csv = options.LabelsCsv != null ? Path.GetFullPath(options.LabelsCsv, root) : null;
        if (source == VocLabelSource.Auto)
        {
            // An explicitly named CSV must exist; only the default one is optional.
            csv ??= Path.Combine(root, "image_labels.csv");
            source = options.LabelsCsv != null || File.Exists(csv) ? VocLabelSource.Csv : VocLabelSource.Annotations;
        }
        else if (source == VocLabelSource.Csv)
        {
            csv ??= Path.Combine(root, "image_labels.csv");
        }

        // id -> (labels, where)
        Dictionary<string, (List<int> Labels, string Where, int Order)> labels;
        if (source == VocLabelSource.Csv)
        {
            if (!File.Exists(csv))
            {
                throw new DatasetException([$"{csv}: labels CSV not found."]);
            }

            labels = ReadLabelsCsv(csv!, index, problems, stripExtension: true);
        }
        else
        {
            string annotations = Path.Combine(root, "Annotations");
            labels = new(StringComparer.Ordinal);
            IEnumerable<string> annotationIds = ids?.Select(t => t.Id)
                ?? (Directory.Exists(annotations) ? Directory.EnumerateFiles(annotations, "*.xml").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)! : []);
            foreach (string id in annotationIds)
            {
                string xml = Path.Combine(annotations, id + ".xml");
                if (!File.Exists(xml))
                {
                    problems.Add($"{xml}: annotation file not found (needed for the labels of image '{id}').");
                    continue;
                }

                labels[id] = (ReadVocXml(xml, index, problems), xml, labels.Count);
            }
        }

        ids ??= labels.Keys.Order(StringComparer.Ordinal).Select(id => (id, labels[id].Where)).ToList();
        var items = new List<DatasetItem>(ids.Count);
        foreach (var (id, where) in ids)
        {
            if (!labels.TryGetValue(id, out var entry))
            {
                problems.Add($"{where}: image '{id}' has no labels in {(source == VocLabelSource.Csv ? csv : Path.Combine(root, "Annotations"))}.");
                continue;
            }

            string image = Path.Combine(imageDir, id + options.ImageExtension);
            string mask = Path.Combine(maskDir, id + ".png");
            items.Add(MakeItem(id, image, File.Exists(mask) ? mask : null, mask, entry.Labels, entry.Where, where, classNames, options, problems));
        }

        if (problems.Count > 0)
        {
            throw new DatasetException(problems);
        }

        return new ImageDataset(root, classNames, items.ToArray());
    }

    /// <summary>
    /// Reads a plain folder of images labelled by a CSV (<c>image,labels</c>); masks, if any, come from
    /// <see cref="FolderDatasetOptions.MaskFolder"/>. The dataset holds the CSV's rows in file order.
    /// </summary>
    /// <exception cref="DatasetException">One or more problems, each naming its file (and line).</exception>
    /// <exception cref="DirectoryNotFoundException">The image folder does not exist.</exception>
    public static ImageDataset LoadFolder(string imageFolder, string labelsCsv, FolderDatasetOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageFolder);
        ArgumentException.ThrowIfNullOrEmpty(labelsCsv);
        options ??= new FolderDatasetOptions();
        imageFolder = Path.GetFullPath(imageFolder);
        labelsCsv = Path.GetFullPath(labelsCsv);
        if (!Directory.Exists(imageFolder))
        {
            throw new DirectoryNotFoundException($"Image folder not found: {imageFolder}");
        }

        if (!File.Exists(labelsCsv))
        {
            throw new DatasetException([$"{labelsCsv}: labels CSV not found."]);
        }

        IReadOnlyList<string> classNames = options.ClassNames ?? InferClassNames(labelsCsv);
        var problems = new List<string>();
        var labels = ReadLabelsCsv(labelsCsv, ClassIndex(classNames), problems, stripExtension: false);
        string? maskDir = options.MaskFolder != null ? Path.GetFullPath(options.MaskFolder) : null;
        var items = new List<DatasetItem>(labels.Count);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, (rowLabels, where, _)) in labels.OrderBy(kv => kv.Value.Order))
        {
            string image = Path.Combine(imageFolder, name);
            if (!Path.HasExtension(name) || !File.Exists(image))
            {
                string? found = options.ImageExtensions.Select(e => Path.Combine(imageFolder, name + e)).FirstOrDefault(File.Exists);
                image = found ?? image;
            }

            string id = Path.GetFileNameWithoutExtension(image);
            if (!ids.Add(id))
            {
                problems.Add($"{where}: image id '{id}' occurs twice (file names differing only in extension).");
                continue;
            }

            string? maskCandidate = maskDir != null ? Path.Combine(maskDir, id + ".png") : null;
            string? mask = maskCandidate != null && File.Exists(maskCandidate) ? maskCandidate : null;
            items.Add(MakeItem(id, image, mask, maskCandidate ?? $"(no mask folder; image {image})", rowLabels, where, where, classNames, options, problems));
        }

        if (problems.Count > 0)
        {
            throw new DatasetException(problems);
        }

        return new ImageDataset(imageFolder, classNames, items.ToArray());
    }

    /// <summary>
    /// Checks every image and mask header (readable PNG/JPEG, equal sizes), for datasets loaded with
    /// <see cref="DatasetOptionsBase.CheckMaskSizes"/> off or files that changed since.
    /// </summary>
    /// <exception cref="DatasetException">One line per unreadable header or size mismatch.</exception>
    public void ValidateFiles()
    {
        var problems = new List<string>();
        foreach (DatasetItem item in _items)
        {
            CheckSizes(item.ImagePath, item.MaskPath, problems, requireImageHeader: true);
        }

        if (problems.Count > 0)
        {
            throw new DatasetException(problems);
        }
    }

    private static DatasetItem MakeItem(
        string id, string image, string? mask, string expectedMask, List<int> labels, string labelWhere, string listWhere,
        IReadOnlyList<string> classNames, DatasetOptionsBase options, List<string> problems)
    {
        if (!File.Exists(image))
        {
            problems.Add($"{listWhere}: image file not found: {image}");
        }
        else if (options.CheckMaskSizes && mask != null)
        {
            CheckSizes(image, mask, problems, requireImageHeader: false);
        }

        if (mask == null && options.RequireMasks)
        {
            problems.Add($"{listWhere}: mask file not found: {expectedMask} (masks are required).");
        }

        // A row whose names were all unknown is already reported; an "empty" error on top would only confuse.
        if (labels.Count == 0 && !options.AllowBackgroundOnlyImages && !problems.Any(p => p.StartsWith(labelWhere + ": ", StringComparison.Ordinal)))
        {
            problems.Add($"{labelWhere}: image '{id}' has an empty label set (set AllowBackgroundOnlyImages to accept background-only images).");
        }

        return new DatasetItem(id, image, labels, classNames, mask, labelWhere);
    }

    private static void CheckSizes(string image, string? mask, List<string> problems, bool requireImageHeader)
    {
        if (mask == null && !requireImageHeader)
        {
            return;
        }

        (int H, int W) imageSize, maskSize;
        try
        {
            imageSize = ImageHeader.ReadSize(image);
        }
        catch (Exception e) when (e is ImageFormatException or IOException or UnauthorizedAccessException)
        {
            problems.Add(e is ImageFormatException ? e.Message : $"{image}: {e.Message}");
            return;
        }

        if (mask == null)
        {
            return;
        }

        try
        {
            maskSize = ImageHeader.ReadSize(mask);
        }
        catch (Exception e) when (e is ImageFormatException or IOException or UnauthorizedAccessException)
        {
            problems.Add(e is ImageFormatException ? e.Message : $"{mask}: {e.Message}");
            return;
        }

        if (imageSize != maskSize)
        {
            problems.Add($"{mask}: mask is {maskSize.H}x{maskSize.W} but its image {image} is {imageSize.H}x{imageSize.W}.");
        }
    }

    private static Dictionary<string, int> ClassIndex(IReadOnlyList<string> classNames)
    {
        var index = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < classNames.Count; i++)
        {
            string name = classNames[i];
            if (string.IsNullOrWhiteSpace(name) || name.Any(ch => char.IsWhiteSpace(ch) || ch == ';' || ch == ','))
            {
                throw new ArgumentException($"Class name '{name}' (class {i}) is empty or contains a separator (space, ';' or ',').", nameof(classNames));
            }

            if (!index.TryAdd(name, i))
            {
                throw new ArgumentException($"Class name '{name}' occurs twice.", nameof(classNames));
            }
        }

        if (classNames.Count == 0 || classNames.Count > MaxClasses)
        {
            throw new ArgumentException($"A dataset needs 1 to 254 classes, got {classNames.Count}.", nameof(classNames));
        }

        return index;
    }

    private static IReadOnlyList<string> InferClassNames(string csv)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (_, row) in CsvRows(csv))
        {
            if (row.Fields.Count >= 2)
            {
                foreach (string name in SplitLabels(row.Fields[1]))
                {
                    names.Add(name.ToLowerInvariant());
                }
            }
        }

        if (names.Count == 0)
        {
            throw new DatasetException([$"{csv}: no class names found, and FolderDatasetOptions.ClassNames is not set."]);
        }

        // The class index takes at most 254 classes (mask values 1..254; 255 is 'ignore'); from a file, too many is a
        // dataset problem, not an invalid argument.
        if (names.Count > MaxClasses)
        {
            throw new DatasetException([$"{csv}: the labels name {names.Count} different classes; a dataset has at most {MaxClasses} (set FolderDatasetOptions.ClassNames to choose them)."]);
        }

        return names.ToArray();
    }

    private static Dictionary<string, (List<int> Labels, string Where, int Order)> ReadLabelsCsv(
        string csv, Dictionary<string, int> index, List<string> problems, bool stripExtension)
    {
        var result = new Dictionary<string, (List<int>, string, int)>(StringComparer.Ordinal);
        foreach (var (lineNo, row) in CsvRows(csv))
        {
            string where = $"{csv}:{lineNo}";
            if (row.Error != null)
            {
                problems.Add($"{where}: {row.Error}");
                continue;
            }

            if (row.Fields.Count > 2 || row.Fields[0].Trim().Length == 0)
            {
                problems.Add($"{where}: expected 'image,labels' (labels separated by spaces or ';'), got {row.Fields.Count} fields.");
                continue;
            }

            string image = row.Fields[0].Trim();
            if (stripExtension && Path.HasExtension(image))
            {
                image = Path.GetFileNameWithoutExtension(image);
            }

            var labels = new List<int>();
            foreach (string name in SplitLabels(row.Fields.Count > 1 ? row.Fields[1] : string.Empty))
            {
                if (index.TryGetValue(name, out int c))
                {
                    if (!labels.Contains(c))
                    {
                        labels.Add(c);
                    }
                }
                else
                {
                    problems.Add($"{where}: unknown class name '{name}' for image '{image}'.");
                }
            }

            if (!result.TryAdd(image, (labels, where, result.Count)))
            {
                problems.Add($"{where}: image '{image}' already has labels at {result[image].Item2}.");
            }
        }

        return result;
    }

    // Any white space separates names (a no-break space too), and so does a comma inside a quoted field: class
    // names cannot hold either, so a name with one inside could never match a class and, inferred from the file,
    // made the class list invalid.
    private static string[] SplitLabels(string field) =>
        field.Split(LabelSeparators, StringSplitOptions.RemoveEmptyEntries);

    private static readonly char[] LabelSeparators =
        [.. Enumerable.Range(0, char.MaxValue + 1).Select(c => (char)c).Where(c => char.IsWhiteSpace(c) || c is ';' or '|' or ',')];

    private sealed record CsvRow(List<string> Fields, string? Error);

    /// <summary>Data rows of a CSV with their 1-based line numbers; skips blanks, '#' comments and an "image,..." header.</summary>
    private static IEnumerable<(int Line, CsvRow Row)> CsvRows(string csv)
    {
        int lineNo = 0;
        foreach (string raw in File.ReadLines(csv))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#'))
            {
                continue;
            }

            CsvRow row = ParseCsvLine(line);
            if (lineNo == 1 && row.Error == null && row.Fields[0].Trim().Equals("image", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            yield return (lineNo, row);
        }
    }

    private static CsvRow ParseCsvLine(string line)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (ch == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(ch);
                }
            }
            else if (ch == '"' && field.ToString().Trim().Length == 0)
            {
                field.Clear();
                quoted = true;
            }
            else if (ch == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else
            {
                field.Append(ch);
            }
        }

        fields.Add(field.ToString());
        return new CsvRow(fields, quoted ? "unterminated quoted field." : null);
    }

    private static List<int> ReadVocXml(string xml, Dictionary<string, int> index, List<string> problems)
    {
        var labels = new List<int>();
        XDocument doc;
        try
        {
            // No DTD: VOC annotations have none, and XDocument.Load would otherwise expand internal entities (a few
            // hundred bytes of "billion laughs" become 10 million characters) and resolve external ones, pulling
            // other files' content into the labels and the error messages.
            var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
            using var reader = XmlReader.Create(xml, settings);
            doc = XDocument.Load(reader, LoadOptions.SetLineInfo);
        }
        catch (XmlException e)
        {
            problems.Add($"{xml}:{e.LineNumber}: invalid XML: {e.Message}");
            return labels;
        }

        foreach (XElement obj in doc.Descendants("object"))
        {
            XElement? nameElement = obj.Element("name");
            int line = ((IXmlLineInfo)(nameElement ?? obj)).LineNumber;
            string name = nameElement?.Value.Trim() ?? string.Empty;
            if (name.Length == 0)
            {
                problems.Add($"{xml}:{line}: <object> without a <name>.");
            }
            else if (index.TryGetValue(name, out int c))
            {
                if (!labels.Contains(c))
                {
                    labels.Add(c);
                }
            }
            else
            {
                problems.Add($"{xml}:{line}: unknown class name '{name}'.");
            }
        }

        return labels;
    }
}
