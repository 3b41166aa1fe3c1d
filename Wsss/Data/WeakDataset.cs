using Wsss.Imaging;

namespace Wsss.Data;

/// <summary>
/// Images with image-level labels, as the trainer consumes them. Implementations load lazily, so a
/// dataset larger than memory works; <see cref="Load"/> may be called from several threads at once.
/// </summary>
public interface IWeakDataset
{
    /// <summary>Foreground class names; background is implicit (class 0 in masks).</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>Number of images.</summary>
    int Count { get; }

    /// <summary>Loads image <paramref name="index"/> with its labels (and mask, when the dataset has one).</summary>
    LabelledImage Load(int index);
}

/// <summary>Adapters from the project's datasets to <see cref="IWeakDataset"/>.</summary>
public static class WeakDataset
{
    /// <summary>A dataset on disk (VOC layout or image folder + CSV); images are decoded on each load.</summary>
    public static IWeakDataset From(ImageDataset dataset) => new DiskDataset(dataset);

    /// <summary>A generated dataset.</summary>
    public static IWeakDataset From(SyntheticDataset dataset) => new ListDataset(dataset, dataset.ClassNames);

    /// <summary>Images already in memory.</summary>
    public static IWeakDataset From(IReadOnlyList<LabelledImage> images, IReadOnlyList<string> classNames) => new ListDataset(images, classNames);

    private sealed class DiskDataset(ImageDataset dataset) : IWeakDataset
    {
        public IReadOnlyList<string> ClassNames => dataset.ClassNames;

        public int Count => dataset.Count;

        public LabelledImage Load(int index) => dataset[index].Load(ImageCodec.Decode);
    }

    private sealed class ListDataset : IWeakDataset
    {
        private readonly IReadOnlyList<LabelledImage> images;

        public ListDataset(IEnumerable<LabelledImage> images, IReadOnlyList<string> classNames)
        {
            this.images = images as IReadOnlyList<LabelledImage> ?? images.ToList();
            ClassNames = classNames;
        }

        public IReadOnlyList<string> ClassNames { get; }

        public int Count => images.Count;

        public LabelledImage Load(int index) => images[index];
    }
}
