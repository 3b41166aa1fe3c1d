using System.CommandLine;
using Wsss.Data;

namespace Wsss.Samples.Commands;

/// <summary>How a command names its dataset: a VOC folder, or an image folder with a labels CSV (and optional masks).</summary>
internal sealed class DatasetOptions
{
    private readonly Option<string?> voc = new("--voc") { Description = "PASCAL VOC layout root (JPEGImages/, ImageSets/Segmentation/{split}.txt, SegmentationClass/, labels from image_labels.csv or Annotations/)." };
    private readonly Option<string> split = new("--split") { Description = "VOC split list to read (ImageSets/Segmentation/{split}.txt). Default train.", DefaultValueFactory = _ => "train" };
    private readonly Option<string?> labelsForVoc = new("--voc-labels") { Description = "With --voc: a labels CSV (image,labels) instead of the default image_labels.csv / Annotations." };
    private readonly Option<string?> images = new("--images") { Description = "Folder of images (with --labels), instead of --voc." };
    private readonly Option<string?> labels = new("--labels") { Description = "CSV of image,labels for --images: the file name (or stem) then the class names separated by spaces." };
    private readonly Option<string?> masks = new("--masks") { Description = "Folder of palette PNG masks named {image stem}.png (with --voc: instead of SegmentationClass/)." };
    private readonly Option<string?> classes = new("--classes") { Description = "Comma-separated foreground class names in class order (default: the 20 VOC classes for --voc; the names found in the CSV, sorted, for --images). Label names outside this list are errors." };
    private readonly bool withMasks;
    private readonly bool withClasses;

    private DatasetOptions(bool withMasks, bool withClasses)
    {
        this.withMasks = withMasks;
        this.withClasses = withClasses;
    }

    /// <summary>Adds the options; <paramref name="withClasses"/> adds --classes (commands that load a model use its class names instead).</summary>
    public static DatasetOptions AddTo(Command command, bool withMasks, bool withClasses = false)
    {
        var o = new DatasetOptions(withMasks, withClasses);
        command.Options.Add(o.voc);
        command.Options.Add(o.split);
        command.Options.Add(o.labelsForVoc);
        command.Options.Add(o.images);
        command.Options.Add(o.labels);
        if (withClasses)
        {
            command.Options.Add(o.classes);
        }

        if (withMasks)
        {
            command.Options.Add(o.masks);
        }

        return o;
    }

    /// <summary>Whether --masks was given (commands whose mode depends on it).</summary>
    public bool HasMasks(ParseResult parse) => withMasks && parse.GetValue(masks) is not null;

    /// <summary>Loads the dataset named on the command line; <paramref name="classNames"/> (a model's) fixes the class order when given.</summary>
    public ImageDataset Load(ParseResult parse, IReadOnlyList<string>? classNames = null, bool requireMasks = false)
    {
        string? vocRoot = parse.GetValue(voc);
        string? imageFolder = parse.GetValue(images);
        string? csv = parse.GetValue(labels);
        if (classNames is null && withClasses && parse.GetValue(classes) is { } list)
        {
            classNames = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (classNames.Count == 0)
            {
                throw new ArgumentException("--classes needs at least one class name.");
            }
        }

        if (vocRoot is not null && imageFolder is not null)
        {
            throw new ArgumentException("give either --voc or --images/--labels, not both.");
        }

        if (vocRoot is not null)
        {
            return ImageDataset.LoadVoc(vocRoot, new VocDatasetOptions
            {
                Split = parse.GetValue(split),
                LabelsCsv = parse.GetValue(labelsForVoc),
                ClassNames = classNames,
                RequireMasks = requireMasks,
                MaskFolder = withMasks ? parse.GetValue(masks) : null,
            });
        }

        if (imageFolder is null || csv is null)
        {
            throw new ArgumentException("name the dataset with --voc ROOT, or with --images DIR --labels CSV.");
        }

        string? maskFolder = withMasks ? parse.GetValue(masks) : null;
        if (requireMasks && maskFolder is null)
        {
            throw new ArgumentException("--masks DIR is needed with --images (the masks to evaluate against or train on).");
        }

        if (maskFolder is not null && !Directory.Exists(maskFolder))
        {
            throw new DirectoryNotFoundException($"Mask folder not found: {Path.GetFullPath(maskFolder)}");
        }

        return ImageDataset.LoadFolder(imageFolder, csv, new FolderDatasetOptions
        {
            MaskFolder = maskFolder,
            ClassNames = classNames,
            RequireMasks = requireMasks,
        });
    }
}
