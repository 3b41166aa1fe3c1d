using System.Globalization;
using System.Reflection;
using System.Text.Json;

namespace Wsss.Model;

/// <summary>
/// What a Wsss model file records besides its weights: how to rebuild the network and prepare its
/// input. Stored as the safetensors "__metadata__" string map, so any safetensors tool can show it.
/// </summary>
/// <remarks>
/// Keys: "format" ("wsss-rrm"), "format_version" (integer), "backbone" (a <see cref="BackboneKind"/>
/// name), "backbone_width" (invariant number), "class_names" (JSON array of the foreground class
/// names; background is the implicit class 0, so class i in the array is output channel i + 1),
/// "input_normalization" (JSON {"scale", "mean", "std"}), and the optional "training_options" (JSON),
/// "library_version" and "created" (ISO 8601 UTC).
/// </remarks>
public sealed class ModelFileMetadata
{
    /// <summary>The "format" value identifying a Wsss model file.</summary>
    public const string FormatName = "wsss-rrm";

    /// <summary>The format version this library writes and reads.</summary>
    public const int CurrentFormatVersion = 1;

    internal const string FormatKey = "format";
    internal const string VersionKey = "format_version";
    internal const string BackboneKey = "backbone";
    internal const string WidthKey = "backbone_width";
    internal const string ClassNamesKey = "class_names";
    internal const string NormalizationKey = "input_normalization";
    internal const string TrainingOptionsKey = "training_options";
    internal const string LibraryVersionKey = "library_version";
    internal const string CreatedKey = "created";

    internal static readonly string[] RequiredKeys = [FormatKey, VersionKey, BackboneKey, WidthKey, ClassNamesKey, NormalizationKey];

    /// <summary>The backbone architecture.</summary>
    public required BackboneKind Backbone { get; init; }

    /// <summary>Backbone width multiplier (for example 0.75 for MobileNet v1 0.75). Default 1.</summary>
    public double BackboneWidth { get; init; } = 1.0;

    /// <summary>Foreground class names in output order; background is the implicit class 0.</summary>
    public required IReadOnlyList<string> ClassNames { get; init; }

    /// <summary>The input normalisation the network was trained with.</summary>
    public required InputNormalization Normalization { get; init; }

    /// <summary>The training options as JSON, opaque to the file format. Default "{}".</summary>
    public string TrainingOptionsJson { get; init; } = "{}";

    /// <summary>Version of the library that wrote the file. Default: this library's version.</summary>
    public string LibraryVersion { get; init; } = CurrentLibraryVersion;

    /// <summary>When the file was written (UTC). Default: the time the metadata object was created.</summary>
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>The format version of the file this came from (<see cref="CurrentFormatVersion"/> for new metadata).</summary>
    public int FormatVersion { get; internal init; } = CurrentFormatVersion;

    /// <summary>Number of output classes including background (ClassNames.Count + 1).</summary>
    public int ClassCountWithBackground => ClassNames.Count + 1;

    internal static string CurrentLibraryVersion { get; } =
        typeof(ModelFileMetadata).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(ModelFileMetadata).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    /// <summary>Checks the values can be stored and read back; throws <see cref="ArgumentException"/> otherwise.</summary>
    internal void Validate()
    {
        if (!Enum.IsDefined(Backbone))
        {
            throw new ArgumentException($"unknown backbone {Backbone}");
        }

        if (!double.IsFinite(BackboneWidth) || BackboneWidth <= 0)
        {
            throw new ArgumentException($"backbone width must be a positive number, got {BackboneWidth}");
        }

        ArgumentNullException.ThrowIfNull(ClassNames);
        ArgumentNullException.ThrowIfNull(Normalization);
        CheckClassNames(ClassNames);
        try
        {
            using JsonDocument _ = JsonDocument.Parse(TrainingOptionsJson ?? "");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"TrainingOptionsJson is not valid JSON: {e.Message}", e);
        }

        ArgumentNullException.ThrowIfNull(LibraryVersion);
    }

    internal Dictionary<string, string> ToDictionary() => new(StringComparer.Ordinal)
    {
        [FormatKey] = FormatName,
        [VersionKey] = CurrentFormatVersion.ToString(CultureInfo.InvariantCulture),
        [BackboneKey] = Backbone.ToString(),
        [WidthKey] = BackboneWidth.ToString("R", CultureInfo.InvariantCulture),
        [ClassNamesKey] = JsonSerializer.Serialize(ClassNames.ToArray()),
        [NormalizationKey] = Normalization.ToJson(),
        [TrainingOptionsKey] = TrainingOptionsJson,
        [LibraryVersionKey] = LibraryVersion,
        [CreatedKey] = Created.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// Builds metadata from a file's map whose format name and version were already checked.
    /// Throws <see cref="FormatException"/> naming the key at fault.
    /// </summary>
    internal static ModelFileMetadata FromDictionary(IReadOnlyDictionary<string, string> map, int formatVersion)
    {
        foreach (string key in RequiredKeys)
        {
            if (!map.ContainsKey(key))
            {
                throw new FormatException($"required key '{key}' is missing");
            }
        }

        // Exact names only: Enum.TryParse would also take numbers, whitespace and flag combinations.
        if (!Enum.GetNames<BackboneKind>().Contains(map[BackboneKey], StringComparer.Ordinal))
        {
            throw new FormatException($"'{BackboneKey}' is \"{map[BackboneKey]}\"; known backbones: {string.Join(", ", Enum.GetNames<BackboneKind>())}");
        }

        BackboneKind backbone = Enum.Parse<BackboneKind>(map[BackboneKey]);
        if (!double.TryParse(map[WidthKey], NumberStyles.Float, CultureInfo.InvariantCulture, out double width)
            || !double.IsFinite(width) || width <= 0)
        {
            throw new FormatException($"'{WidthKey}' is \"{map[WidthKey]}\", not a positive number");
        }

        string[] classNames;
        try
        {
            classNames = JsonSerializer.Deserialize<string[]>(map[ClassNamesKey])
                ?? throw new FormatException("null");
            CheckClassNames(classNames);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or FormatException)
        {
            throw new FormatException($"'{ClassNamesKey}' must be a JSON array of distinct non-empty names: {e.Message}", e);
        }

        InputNormalization normalization;
        try
        {
            normalization = InputNormalization.FromJson(map[NormalizationKey]);
        }
        catch (FormatException e)
        {
            throw new FormatException($"'{NormalizationKey}' is invalid: {e.Message}", e);
        }

        string trainingOptions = map.TryGetValue(TrainingOptionsKey, out string? options) ? options : "{}";
        DateTimeOffset created = default;
        if (map.TryGetValue(CreatedKey, out string? createdText)
            && !DateTimeOffset.TryParse(createdText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out created))
        {
            throw new FormatException($"'{CreatedKey}' is \"{createdText}\", not an ISO 8601 time");
        }

        return new ModelFileMetadata
        {
            Backbone = backbone,
            BackboneWidth = width,
            ClassNames = classNames,
            Normalization = normalization,
            TrainingOptionsJson = trainingOptions,
            LibraryVersion = map.TryGetValue(LibraryVersionKey, out string? lib) ? lib : "unknown",
            Created = created,
            FormatVersion = formatVersion,
        };
    }

    private static void CheckClassNames(IReadOnlyList<string> names)
    {
        if (names.Count == 0)
        {
            throw new ArgumentException("at least one foreground class name is needed");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in names)
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                throw new ArgumentException("class names must be non-empty");
            }

            if (!seen.Add(name))
            {
                throw new ArgumentException($"class name '{name}' appears twice");
            }
        }
    }
}
