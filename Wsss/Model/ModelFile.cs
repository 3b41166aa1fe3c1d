using System.Globalization;
using Wsss.Model.Serialization;

namespace Wsss.Model;

/// <summary>
/// A trained Wsss model on disk: a safetensors file whose tensors are the network's weights and whose
/// metadata is a <see cref="ModelFileMetadata"/>. Any safetensors reader (for example Python's
/// <c>safetensors</c>) can open it; <see cref="Load"/> additionally checks that it is a Wsss model of
/// a supported format version.
/// </summary>
public sealed class ModelFile
{
    private readonly SafetensorsContent _content;

    private ModelFile(string path, ModelFileMetadata metadata, SafetensorsContent content)
    {
        FilePath = path;
        Metadata = metadata;
        _content = content;
    }

    /// <summary>The file this model was loaded from.</summary>
    public string FilePath { get; }

    /// <summary>The model's metadata.</summary>
    public ModelFileMetadata Metadata { get; }

    /// <summary>The weights, in file order.</summary>
    public IReadOnlyList<TensorData> Tensors => _content.Tensors;

    /// <summary>The tensor with this name.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor (the message names it and the file).</exception>
    public TensorData GetTensor(string name) => _content[name];

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TensorData? tensor) =>
        _content.TryGetTensor(name, out tensor);

    /// <summary>
    /// Writes a model file atomically (temporary file in the same directory, then a rename), so an
    /// interrupted save never leaves a half-written model under <paramref name="path"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid metadata (for example duplicate class names) or tensors.</exception>
    public static void Save(string path, ModelFileMetadata metadata, IEnumerable<TensorData> tensors)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        metadata.Validate();
        SafetensorsFile.Write(path, tensors, metadata.ToDictionary());
    }

    /// <summary>Reads only a model file's metadata (checked as in <see cref="Load"/>), not its weights.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="FileFormatException">Not a Wsss model file, an unsupported version, missing or invalid metadata, damaged layout.</exception>
    public static ModelFileMetadata ReadMetadata(string path)
    {
        ModelFileMetadata metadata = ReadAndCheckMetadata(path);
        try
        {
            SafetensorsFile.ReadHeader(path);
        }
        catch (FileFormatException e)
        {
            throw Damaged(path, e);
        }

        return metadata;
    }

    /// <summary>Reads and checks a model file: format name, format version, metadata, then every tensor.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="FileFormatException">
    /// Not a Wsss model file, written by an unsupported format version, missing or invalid metadata,
    /// or damaged / truncated weights. The message names the file.
    /// </exception>
    public static ModelFile Load(string path)
    {
        ModelFileMetadata metadata = ReadAndCheckMetadata(path);
        SafetensorsContent content;
        try
        {
            content = SafetensorsFile.Read(path);
        }
        catch (FileFormatException e)
        {
            throw Damaged(path, e);
        }

        return new ModelFile(path, metadata, content);
    }

    private static ModelFileMetadata ReadAndCheckMetadata(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"model file '{path}' does not exist", path);
        }

        IReadOnlyDictionary<string, string> map;
        try
        {
            map = SafetensorsFile.ReadMetadataOnly(path);
        }
        catch (FileFormatException e)
        {
            throw new FileFormatException(path, null, $"this is not a Wsss model file (not a readable safetensors file: {e.Reason})", e);
        }

        if (!map.TryGetValue(ModelFileMetadata.FormatKey, out string? format))
        {
            throw new FileFormatException(path, null,
                $"this is not a Wsss model file (a safetensors file without the \"{ModelFileMetadata.FormatKey}\" metadata entry; weights only?)");
        }

        if (format != ModelFileMetadata.FormatName)
        {
            throw new FileFormatException(path, "metadata key", ModelFileMetadata.FormatKey,
                $"this is not a Wsss model file (format \"{format}\", expected \"{ModelFileMetadata.FormatName}\")");
        }

        if (!map.TryGetValue(ModelFileMetadata.VersionKey, out string? versionText))
        {
            throw MissingKey(path, ModelFileMetadata.VersionKey);
        }

        if (!int.TryParse(versionText, NumberStyles.None, CultureInfo.InvariantCulture, out int version))
        {
            throw new FileFormatException(path, "metadata key", ModelFileMetadata.VersionKey, $"format version \"{versionText}\" is not a whole number");
        }

        if (version != ModelFileMetadata.CurrentFormatVersion)
        {
            string advice = version > ModelFileMetadata.CurrentFormatVersion
                ? "a newer Wsss library is needed"
                : "re-save it with the Wsss version that wrote it, or retrain";
            throw new FileFormatException(path, "metadata key", ModelFileMetadata.VersionKey,
                $"written by format version {version}, this library reads {ModelFileMetadata.CurrentFormatVersion} ({advice})");
        }

        foreach (string key in ModelFileMetadata.RequiredKeys)
        {
            if (!map.ContainsKey(key))
            {
                throw MissingKey(path, key);
            }
        }

        try
        {
            return ModelFileMetadata.FromDictionary(map, version);
        }
        catch (FormatException e)
        {
            throw new FileFormatException(path, null, $"invalid metadata: {e.Message}", e);
        }
    }

    private static FileFormatException MissingKey(string path, string key) =>
        new(path, "metadata key", key, $"this required key is missing (incomplete model file)");

    private static FileFormatException Damaged(string path, FileFormatException e) =>
        new(path, "tensor", e.EntryName, $"the Wsss model file is damaged or truncated: {e.Reason}", e);
}
