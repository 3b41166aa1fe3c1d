using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Data;
using Wsss.Imaging;
using Wsss.Tests.Imaging;

namespace Wsss.Tests.Data;

[TestClass]
public sealed class ImageDatasetTests
{
    private string _root = string.Empty;

    [TestInitialize]
    public void Init() => _root = SharedDataPaths.NewTempFolder();

    [TestCleanup]
    public void Cleanup() => SharedDataPaths.Delete(_root);

    private string Write(string relative, string text)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private string Jpeg(string relative, int h, int w)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, ImageHeaderTests.MinimalJpegHeader(h, w));
        return path;
    }

    private string Mask(string relative, int h, int w, byte value = 0)
    {
        string path = Path.Combine(_root, relative);
        var mask = new SegmentationMask(h, w, value);
        mask[0, 0] = SegmentationMask.Ignore;
        PalettePng.Write(path, mask);
        return path;
    }

    /// <summary>A fake decoder: a black image of the size in the file's header.</summary>
    private static RgbImage HeaderSizedImage(string path)
    {
        var (h, w) = ImageHeader.ReadSize(path);
        return new RgbImage(h, w);
    }

    private void BuildVoc(string csv)
    {
        foreach (string id in new[] { "a", "b", "c" })
        {
            Jpeg($"JPEGImages/{id}.jpg", 4, 6);
        }

        Mask("SegmentationClass/a.png", 4, 6, 8);
        Mask("SegmentationClass/b.png", 4, 6, 15);
        Write("ImageSets/Segmentation/train.txt", "a\nb\n\nc\n");
        Write("ImageSets/Segmentation/val.txt", "b\n");
        Write("image_labels.csv", csv);
    }

    [TestMethod]
    public void Voc_WithCsv_ReadsLabelsAndMasks()
    {
        BuildVoc("image,labels\na,cat dog\nb,\"person;car\"\nc,Cat\nz,bird\n");
        ImageDataset data = ImageDataset.LoadVoc(_root);
        Assert.AreEqual(3, data.Count);
        Assert.AreEqual(20, data.ClassNames.Count);
        CollectionAssert.AreEqual(new[] { "a", "b", "c" }, data.Select(i => i.Id).ToArray());
        CollectionAssert.AreEqual(new[] { 7, 11 }, data[0].Labels); // cat, dog
        CollectionAssert.AreEqual(new[] { "car", "person" }, data[1].LabelNames);
        CollectionAssert.AreEqual(new[] { 7 }, data[2].Labels); // names match case-insensitively
        Assert.IsNotNull(data[0].MaskPath);
        Assert.IsNull(data[2].MaskPath);
        StringAssert.EndsWith(data[0].LabelSource, "image_labels.csv:2");
        Assert.AreEqual(2f, data[0].MultiHot().Sum());

        LabelledImage sample = data[0].Load(HeaderSizedImage);
        Assert.AreEqual(4, sample.Image.Height);
        Assert.AreEqual((byte)8, sample.Mask![1, 1]);
        Assert.AreEqual(SegmentationMask.Ignore, sample.Mask[0, 0]);
        Assert.IsNull(data[2].Load(HeaderSizedImage).Mask);
        data.ValidateFiles();

        ImageDataset val = ImageDataset.LoadVoc(_root, new VocDatasetOptions { Split = "val" });
        Assert.AreEqual(1, val.Count);
        // Without a split every CSV row is an image, and z has no image file.
        var e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadVoc(_root, new VocDatasetOptions { Split = null }));
        AssertProblem(e, $"{Path.Combine(_root, "image_labels.csv")}:5: image file not found: {Path.Combine(_root, "JPEGImages", "z.jpg")}");
        Jpeg("JPEGImages/z.jpg", 8, 8);
        Assert.AreEqual(4, ImageDataset.LoadVoc(_root, new VocDatasetOptions { Split = null }).Count);
    }

    [TestMethod]
    public void Voc_MaskFolder_ReplacesSegmentationClass()
    {
        BuildVoc("image,labels\na,cat dog\nb,person\nc,cat\n");
        string pseudo = Path.Combine(_root, "pseudo");
        Mask("pseudo/a.png", 4, 6, 3);
        Mask("pseudo/c.png", 4, 6, 7);
        ImageDataset data = ImageDataset.LoadVoc(_root, new VocDatasetOptions { MaskFolder = pseudo });
        Assert.AreEqual(Path.Combine(pseudo, "a.png"), data[0].MaskPath);
        Assert.AreEqual((byte)3, data[0].Load(HeaderSizedImage).Mask![1, 1], "the pseudo mask, not SegmentationClass/a.png (8)");
        Assert.IsNull(data[1].MaskPath, "b has a SegmentationClass mask but none in the mask folder");
        Assert.AreEqual((byte)7, data[2].Load(HeaderSizedImage).Mask![1, 1]);

        var missing = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadVoc(_root, new VocDatasetOptions { MaskFolder = pseudo, RequireMasks = true }));
        StringAssert.Contains(missing.Message, Path.Combine(pseudo, "b.png"));
        var none = Assert.ThrowsExactly<DirectoryNotFoundException>(() => ImageDataset.LoadVoc(_root, new VocDatasetOptions { MaskFolder = Path.Combine(_root, "nowhere") }));
        StringAssert.Contains(none.Message, Path.Combine(_root, "nowhere"));
    }

    [TestMethod]
    public void Voc_CollectsEveryProblem_WithFileAndLine()
    {
        BuildVoc("image,labels\na,cat unicorn\nb,person\nc,\n");
        File.Delete(Path.Combine(_root, "JPEGImages", "b.jpg"));
        Mask("SegmentationClass/a.png", 5, 6); // wrong size for a 4x6 image
        Write("ImageSets/Segmentation/train.txt", "a\nb\nc\nd\n");

        var e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadVoc(_root, new VocDatasetOptions { RequireMasks = true }));
        string csv = Path.Combine(_root, "image_labels.csv");
        string list = Path.Combine(_root, "ImageSets", "Segmentation", "train.txt");
        AssertProblem(e, $"{csv}:2: unknown class name 'unicorn'");
        AssertProblem(e, $"{list}:2: image file not found: {Path.Combine(_root, "JPEGImages", "b.jpg")}");
        AssertProblem(e, $"{csv}:4: image 'c' has an empty label set");
        AssertProblem(e, $"{list}:3: mask file not found");
        AssertProblem(e, $"{list}:4: image 'd' has no labels");
        AssertProblem(e, $"{Path.Combine(_root, "SegmentationClass", "a.png")}: mask is 5x6 but its image");
        Assert.AreEqual(6, e.Problems.Count, string.Join("\n", e.Problems));
    }

    [TestMethod]
    public void Voc_BackgroundOnlyImages_AllowedByOption()
    {
        BuildVoc("image,labels\na,cat\nb,person\nc,\n");
        var e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadVoc(_root));
        Assert.AreEqual(1, e.Problems.Count);
        ImageDataset data = ImageDataset.LoadVoc(_root, new VocDatasetOptions { AllowBackgroundOnlyImages = true });
        Assert.AreEqual(0, data[2].Labels.Length);
    }

    [TestMethod]
    public void Voc_WithXmlAnnotations()
    {
        BuildVoc("unused");
        File.Delete(Path.Combine(_root, "image_labels.csv"));
        string Xml(params string[] names) => "<annotation>\n<filename>x.jpg</filename>\n" +
            string.Concat(names.Select(n => $"<object>\n<name>{n}</name>\n<difficult>0</difficult>\n</object>\n")) + "</annotation>\n";
        Write("Annotations/a.xml", Xml("dog", "person", "dog"));
        Write("Annotations/b.xml", Xml("cow"));
        string cXml = Write("Annotations/c.xml", Xml("horse", "dragon"));

        var e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadVoc(_root));
        // c.xml: line 1 <annotation>, 2 <filename>, 3 <object>, 4 horse, ..., 7 <object>, 8 <name>dragon</name>.
        AssertProblem(e, $"{cXml}:8: unknown class name 'dragon'");
        Assert.AreEqual(1, e.Problems.Count);

        Write("Annotations/c.xml", Xml("horse"));
        ImageDataset data = ImageDataset.LoadVoc(_root, new VocDatasetOptions { LabelSource = VocLabelSource.Annotations });
        CollectionAssert.AreEqual(new[] { "dog", "person" }, data[0].LabelNames);
        CollectionAssert.AreEqual(new[] { "cow" }, data[1].LabelNames);
    }

    [TestMethod]
    public void Folder_WithCsv_InfersClasses_FindsExtensions_AndMasks()
    {
        Jpeg("img/one.jpg", 3, 3);
        Jpeg("img/two.jpeg", 2, 5);
        Mask("img/three.png", 2, 2, 1); // a PNG image
        Mask("masks/one.png", 3, 3, 2);
        string csv = Write("labels.csv", "# comment\none.jpg,zebra;apple\ntwo,apple\nthree.png,mango\n");
        ImageDataset data = ImageDataset.LoadFolder(Path.Combine(_root, "img"), csv, new FolderDatasetOptions { MaskFolder = Path.Combine(_root, "masks") });
        CollectionAssert.AreEqual(new[] { "apple", "mango", "zebra" }, data.ClassNames.ToArray());
        CollectionAssert.AreEqual(new[] { "one", "two", "three" }, data.Select(i => i.Id).ToArray());
        CollectionAssert.AreEqual(new[] { 0, 2 }, data[0].Labels);
        StringAssert.EndsWith(data[1].ImagePath, "two.jpeg");
        Assert.IsNotNull(data[0].MaskPath);
        Assert.IsNull(data[1].MaskPath);

        // Given class names: unknown ones are errors; a missing image too.
        Write("labels2.csv", "image,labels\none.jpg,apple\nfour,apple\ntwo,kiwi\n");
        var e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadFolder(
            Path.Combine(_root, "img"), Path.Combine(_root, "labels2.csv"), new FolderDatasetOptions { ClassNames = ["apple", "mango"] }));
        AssertProblem(e, $"{Path.Combine(_root, "labels2.csv")}:3: image file not found");
        AssertProblem(e, $"{Path.Combine(_root, "labels2.csv")}:4: unknown class name 'kiwi'");
        Assert.AreEqual(2, e.Problems.Count);
    }

    [TestMethod]
    public void Load_DetectsMaskSizeAndValueProblems_AtDecodeTime()
    {
        BuildVoc("image,labels\na,cat\nb,person\nc,dog\n");
        ImageDataset data = ImageDataset.LoadVoc(_root);
        // The decoder says 5x6 (e.g. the file changed since loading): the mask no longer fits.
        var e = Assert.ThrowsExactly<DatasetException>(() => data[0].Load(_ => new RgbImage(5, 6)));
        StringAssert.Contains(e.Message, "a.png: mask is 4x6 but its image");

        Mask("SegmentationClass/b.png", 4, 6, 21); // 21 is not a VOC class
        e = Assert.ThrowsExactly<DatasetException>(() => data[1].Load(HeaderSizedImage));
        StringAssert.Contains(e.Message, "mask value 21");

        File.WriteAllBytes(Path.Combine(_root, "SegmentationClass", "b.png"), [1, 2, 3]);
        var v = Assert.ThrowsExactly<DatasetException>(data.ValidateFiles);
        StringAssert.Contains(v.Message, "b.png: not an image format");
    }

    [TestMethod]
    public void MalformedCsvRows_AreReported()
    {
        BuildVoc("image,labels\na,cat,dog\nb,\"person\nc,dog\nc,cat\n");
        var e = Assert.ThrowsExactly<DatasetException>(() => ImageDataset.LoadVoc(_root));
        string csv = Path.Combine(_root, "image_labels.csv");
        AssertProblem(e, $"{csv}:2: expected 'image,labels'");
        AssertProblem(e, $"{csv}:3: unterminated quoted field");
        AssertProblem(e, $"{csv}:5: image 'c' already has labels at {csv}:4");
    }

    [TestMethod]
    public void Coco128Voc_LoadsAllImages_WithKnownNonEmptyLabels()
    {
        string root = SharedDataPaths.RequireCoco128Voc();
        ImageDataset data = ImageDataset.LoadVoc(root, new VocDatasetOptions { RequireMasks = true });
        Assert.AreEqual(97, data.Count);
        var classesSeen = new HashSet<int>();
        int agree = 0;
        foreach (DatasetItem item in data)
        {
            Assert.IsTrue(item.Labels.Length > 0, item.Id);
            Assert.IsTrue(File.Exists(item.ImagePath));
            Assert.IsNotNull(item.MaskPath);
            classesSeen.UnionWith(item.Labels);
            // The CSV labels should be the classes present in the mask.
            int[] fromMask = PalettePng.ReadMask(item.MaskPath!).ForegroundClasses();
            agree += fromMask.SequenceEqual(item.Labels) ? 1 : 0;
        }

        Assert.AreEqual(18, classesSeen.Count, "the data README says 18 of the 20 VOC classes occur");
        Assert.IsTrue(agree >= 90, $"CSV labels equal the mask's classes for only {agree} of 97 images");
        data.ValidateFiles();
    }

    private static void AssertProblem(DatasetException e, string expectedStart)
    {
        Assert.IsTrue(e.Problems.Any(p => p.StartsWith(expectedStart, StringComparison.Ordinal)), $"no problem starting with\n  {expectedStart}\nin\n  {string.Join("\n  ", e.Problems)}");
    }
}
