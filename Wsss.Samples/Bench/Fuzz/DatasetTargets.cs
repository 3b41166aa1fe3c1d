using System.Text;
using CsCheck;
using Wsss.Data;
using Wsss.Imaging;

namespace Wsss.Samples.Bench.Fuzz;

/// <summary>Shared parts of the dataset targets: tiny image files, text damage, the description of a loaded dataset.</summary>
internal static class DatasetCases
{
    /// <summary>A small palette PNG: the dataset readers look at headers only, and PNG is accepted under any extension.</summary>
    public static byte[] TinyPng(int height, int width) => PalettePng.Encode(height, width, new byte[height * width]);

    /// <summary>Lines that have tripped CSV and list readers: separators, odd whitespace, case pairs, NULs, a huge line.</summary>
    public static Gen<string> AbsurdLine { get; } = Gen.Frequency(
        (12, Gen.OneOf(
            "", "   ", "#", ",", ",,,,", "\"", "\"a,b", "a,\"b", "image,labels", "\0\0\0", "img0,\0", "img0,cat\u00A0dog", "img0,cat\u2003dog",
            "img0,\u0131", "img0,I", "img0,\u212A", "img0,K k", "img0,ǅ ǆ Ǆ", "\uFEFFimg0,cat", "../../../etc/passwd,cat", "/etc/passwd,cat", "img0,cat,dog,bird",
            "img0 ,  cat ; ; dog |", "\"img0\",\"cat dog\"", "img0,\"\"\"quoted\"\"\"", "\u0000,\u0000", "img0,cat\rdog", "CON,cat", "img0.png.png,cat")),
        // Huge lines and many names are rarer: each costs tens of milliseconds.
        (1, Gen.Int[1, 3].Select(k => "img0," + new string('x', (int)Math.Pow(100, k)))),
        (1, Gen.Int[1, 3].Select(k => "img0," + string.Join(' ', Enumerable.Range(0, (int)Math.Pow(10, k)).Select(i => $"c{i}")))));

    /// <summary>Damage to a text file: bytes, or an absurd line inserted or put in place of a line.</summary>
    public static Gen<(string What, Func<byte[], byte[]> Edit)> TextDamage { get; } = Gen.Frequency(
        (2, Mutations.Bytes.Select(m => (m.ToString(), (Func<byte[], byte[]>)m.Apply))),
        (3, Gen.Select(AbsurdLine, Gen.Int[0, 50], Gen.Bool).Select((line, at, replace) => (
            $"{(replace ? "replace" : "insert")} line {at}: {(line.Length > 40 ? line[..20] + $"...({line.Length} chars)" : line)}",
            (Func<byte[], byte[]>)(bytes =>
            {
                var lines = Encoding.UTF8.GetString(bytes).Split('\n').ToList();
                int i = at % (lines.Count + 1);
                if (replace && i < lines.Count)
                {
                    lines[i] = line;
                }
                else
                {
                    lines.Insert(i, line);
                }

                return FuzzText.Utf8.GetBytes(string.Join('\n', lines));
            })))));

    /// <summary>VOC annotation documents that attack XML readers: entity expansion, external entities, deep nesting, junk.</summary>
    public static Gen<(string What, string Xml)> AbsurdXml(string secretPath) => Gen.OneOf(
        ("billion laughs", "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
            + string.Concat(Enumerable.Range(1, 9).Select(i => $"<!ENTITY lol{i} \"{string.Concat(Enumerable.Repeat($"&lol{(i == 1 ? "" : (i - 1).ToString(System.Globalization.CultureInfo.InvariantCulture))};", 10))}\">"))
            + "]><annotation><object><name>&lol9;</name></object></annotation>"),
        ("external entity", $"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file://{secretPath}\">]><annotation><object><name>&x;</name></object></annotation>"),
        ("external DTD", $"<?xml version=\"1.0\"?><!DOCTYPE annotation SYSTEM \"file://{secretPath}\"><annotation><object><name>cat</name></object></annotation>"),
        ("deep nesting", "<annotation>" + string.Concat(Enumerable.Repeat("<a>", 20_000)) + string.Concat(Enumerable.Repeat("</a>", 20_000)) + "</annotation>"),
        ("object without name", "<annotation><object><pose>Left</pose></object></annotation>"),
        ("empty name", "<annotation><object><name>  </name></object></annotation>"),
        ("not XML", "\0\u0001garbage<<<"),
        ("empty", ""),
        ("many objects", "<annotation>" + string.Concat(Enumerable.Repeat("<object><name>cat</name></object>", 20_000)) + "</annotation>"));

    /// <summary>A one-line description per item, and the class list.</summary>
    public static string Describe(ImageDataset data, string root) =>
        "classes: " + string.Join("|", data.ClassNames) + "\n"
        + string.Concat(data.Select(item => $"{item.Id} [{string.Join(",", item.Labels)}] {(item.MaskPath is null ? "-" : Path.GetRelativePath(root, item.MaskPath))}\n"));
}

/// <summary>
/// <see cref="ImageDataset.LoadVoc"/>: a PASCAL VOC tree (split list, JPEGImages, SegmentationClass masks, labels
/// from image_labels.csv or Annotations/*.xml); damaged in the list, the labels, an annotation (including XML
/// entity attacks), or an image or mask header; files removed.
/// </summary>
internal sealed class VocDatasetTarget : FuzzTarget
{
    private const string SecretFile = "secret.txt";
    private const string Secret = "SECRET-7f3a";

    public override string Name => "voc";

    public override Type DocumentedException => typeof(DatasetException);

    private sealed record Item(string Id, int[] Labels, bool Mask, int Height, int Width);

    private static Gen<Item[]> ItemsGen { get; } =
        Gen.Select(Gen.Int[0, 19].Array[1, 3], Gen.Bool, Gen.Int[1, 12], Gen.Int[1, 12]).Array[1, 5]
            .Select(items => items.Select((t, i) => new Item($"2007_{i:D6}", t.Item1.Distinct().Order().ToArray(), t.Item2, t.Item3, t.Item4)).ToArray());

    public override Gen<FuzzCase> Cases { get; } =
        Gen.Select(ItemsGen, Gen.Bool, Gen.Int[0, 11], Gen.Int[0, 1000], DatasetCases.TextDamage, PngMaskTarget.ChunkDamage)
            .SelectMany((items, csv, mode, pick, text, png) => DatasetCases.AbsurdXml("/__root__/" + SecretFile).Select(xml =>
            {
                var files = new List<FuzzFile> { new(SecretFile, FuzzText.Utf8.GetBytes(Secret)) };
                files.Add(new FuzzFile("ImageSets/Segmentation/train.txt", FuzzText.Utf8.GetBytes(string.Join("\n", items.Select(i => i.Id)) + "\n")));
                foreach (Item item in items)
                {
                    files.Add(new FuzzFile($"JPEGImages/{item.Id}.jpg", DatasetCases.TinyPng(item.Height, item.Width)));
                    if (item.Mask)
                    {
                        files.Add(new FuzzFile($"SegmentationClass/{item.Id}.png", DatasetCases.TinyPng(item.Height, item.Width)));
                    }
                }

                if (csv)
                {
                    files.Add(new FuzzFile("image_labels.csv", FuzzText.Utf8.GetBytes("image,labels\n" + string.Concat(items.Select(i =>
                        $"{i.Id},{string.Join(' ', i.Labels.Select(c => ImageDataset.VocClassNames[c]))}\n")))));
                }
                else
                {
                    files.AddRange(items.Select(i => new FuzzFile($"Annotations/{i.Id}.xml", FuzzText.Utf8.GetBytes(
                        "<annotation><filename>x.jpg</filename>" + string.Concat(i.Labels.Select(c => $"<object><name>{ImageDataset.VocClassNames[c]}</name><pose>Left</pose></object>")) + "</annotation>"))));
                }

                if (mode == 0)
                {
                    string expected = "classes: " + string.Join("|", ImageDataset.VocClassNames) + "\n"
                        + string.Concat(items.Select(i => $"{i.Id} [{string.Join(",", i.Labels)}] {(i.Mask ? Path.Combine("SegmentationClass", i.Id + ".png") : "-")}\n"));
                    return new FuzzCase(files, "ImageSets/Segmentation/train.txt", "none", SafetensorsCases.Expect(expected)) { Secret = Secret };
                }

                FuzzFile[] candidates = mode switch
                {
                    <= 3 => files.Where(f => f.Path.EndsWith(".txt", StringComparison.Ordinal) && f.Path != SecretFile || f.Path.EndsWith(".csv", StringComparison.Ordinal)).ToArray(),
                    <= 5 => files.Where(f => f.Path.EndsWith(".xml", StringComparison.Ordinal)).ToArray(),
                    _ => files.Where(f => f.Path.EndsWith(".png", StringComparison.Ordinal) || f.Path.EndsWith(".jpg", StringComparison.Ordinal)).ToArray(),
                };
                if (candidates.Length == 0)
                {
                    candidates = [files[1]];
                }

                FuzzFile victim = candidates[pick % candidates.Length];
                (byte[]? bytes, string what) = mode switch
                {
                    <= 3 => (text.Edit(victim.Bytes), text.What),
                    4 => (FuzzText.Utf8.GetBytes(xml.Xml), xml.What),
                    5 => (text.Edit(victim.Bytes), text.What),
                    <= 9 => (PngMaskTarget.Assemble(png.Edit(PngMaskTarget.Chunks(victim.Bytes))), png.What),
                    10 => (DatasetCases.TinyPng(13, 1), "size changed to 13x1"),
                    _ => (null, "removed"),
                };
                var damaged = files.Where(f => f != victim).ToList();
                if (bytes is not null)
                {
                    damaged.Add(victim with { Bytes = bytes });
                }

                return new FuzzCase(damaged, victim.Path, what) { Secret = Secret };
            }));

    public override (object Value, long Bytes) Read(string directory)
    {
        ImageDataset data = ImageDataset.LoadVoc(directory, new VocDatasetOptions { Split = "train" });
        string description = DatasetCases.Describe(data, directory);
        return (description, 2L * description.Length);
    }

    public override IEnumerable<string> NamesInError(string directory, FuzzCase c) =>
        // A removed image or mask is named through the list that wanted it, or not at all when it was optional (masks).
        c.Mutation == "removed" ? [] : [Path.Combine(directory, c.DamagedFile)];
}

/// <summary>
/// <see cref="ImageDataset.LoadFolder"/>: an image folder with a labels CSV (header or not, quoted fields, comments,
/// ';' or space separators, names of any case) and a mask folder; the class names given or inferred from the CSV.
/// Damaged in the CSV above all (odd whitespace, case pairs, too many classes, huge lines, NULs), and in image
/// and mask headers.
/// </summary>
internal sealed class LabelsCsvTarget : FuzzTarget
{
    private const string Csv = "labels.csv";
    private const string ClassesFile = "classes.txt";
    private static readonly string[] Classes = ["cat", "dog", "bird", "person"];

    public override string Name => "labels-csv";

    public override Type DocumentedException => typeof(DatasetException);

    private sealed record Row(string Stem, bool WithExtension, int[] Labels, bool Mask, bool Quoted, bool Semicolons, bool Upper);

    private static Gen<Row[]> RowsGen { get; } =
        Gen.Select(Gen.Int[0, 3].Array[1, 3], Gen.Bool, Gen.Bool, Gen.Bool, Gen.Bool, Gen.Bool, Gen.Bool).Array[1, 5]
            .Select(rows => rows.Select((r, i) => new Row($"img{i}", r.Item2, r.Item1.Distinct().Order().ToArray(), r.Item3, r.Item4, r.Item5, r.Item6)).ToArray());

    public override Gen<FuzzCase> Cases { get; } =
        Gen.Select(RowsGen, Gen.Bool, Gen.Bool, Gen.Int[0, 9], Gen.Int[0, 1000], DatasetCases.TextDamage, PngMaskTarget.ChunkDamage)
            .Select((rows, header, given, mode, pick, text, png) =>
            {
                var files = new List<FuzzFile>();
                var csv = new StringBuilder(header ? "image,labels\n" : "");
                csv.Append("# a comment\n\n");
                foreach (Row row in rows)
                {
                    files.Add(new FuzzFile($"images/{row.Stem}.png", DatasetCases.TinyPng(3, 4)));
                    if (row.Mask)
                    {
                        files.Add(new FuzzFile($"masks/{row.Stem}.png", DatasetCases.TinyPng(3, 4)));
                    }

                    string labels = string.Join(row.Semicolons ? ";" : " ", row.Labels.Select(c => row.Upper ? Classes[c].ToUpperInvariant() : Classes[c]));
                    string image = row.WithExtension ? row.Stem + ".png" : row.Stem;
                    csv.Append(image).Append(',').Append(row.Quoted ? $"\"{labels}\"" : labels).Append('\n');
                }

                files.Add(new FuzzFile(Csv, FuzzText.Utf8.GetBytes(csv.ToString())));
                files.Add(new FuzzFile("masks/.keep", []));
                string[] classes = given ? Classes : rows.SelectMany(r => r.Labels).Distinct().Select(c => Classes[c]).Order(StringComparer.Ordinal).ToArray();
                if (given)
                {
                    files.Add(new FuzzFile(ClassesFile, FuzzText.Utf8.GetBytes(string.Join("\n", Classes))));
                }

                if (mode == 0)
                {
                    string expected = "classes: " + string.Join("|", classes) + "\n" + string.Concat(rows.Select(r =>
                        $"{r.Stem} [{string.Join(",", r.Labels.Select(c => Array.IndexOf(classes, Classes[c])).Order())}] {(r.Mask ? Path.Combine("masks", r.Stem + ".png") : "-")}\n"));
                    return new FuzzCase(files, Csv, "none", SafetensorsCases.Expect(expected));
                }

                FuzzFile victim = mode <= 6 ? files.Single(f => f.Path == Csv) : files.Where(f => f.Path.EndsWith(".png", StringComparison.Ordinal)).ToArray()[pick % files.Count(f => f.Path.EndsWith(".png", StringComparison.Ordinal))];
                byte[] bytes = mode <= 6 ? text.Edit(victim.Bytes) : PngMaskTarget.Assemble(png.Edit(PngMaskTarget.Chunks(victim.Bytes)));
                return new FuzzCase(files.Select(f => f == victim ? f with { Bytes = bytes } : f).ToList(), victim.Path, mode <= 6 ? text.What : png.What);
            });

    public override (object Value, long Bytes) Read(string directory)
    {
        string classes = Path.Combine(directory, ClassesFile);
        var options = new FolderDatasetOptions
        {
            MaskFolder = Path.Combine(directory, "masks"),
            ClassNames = File.Exists(classes) ? File.ReadAllLines(classes) : null,
        };
        ImageDataset data = ImageDataset.LoadFolder(Path.Combine(directory, "images"), Path.Combine(directory, Csv), options);
        string description = DatasetCases.Describe(data, directory);
        return (description, 2L * description.Length);
    }
}
