namespace Wsss.Samples.Bench.Fuzz;

/// <summary>Every reader under fuzz, by name.</summary>
internal static class FuzzTargets
{
    public static readonly string[] Names = ["safetensors", "model-file", "checkpoint", "tfjs", "png-mask", "image", "voc", "labels-csv"];

    /// <summary>A new target (owning its resources: dispose it).</summary>
    public static FuzzTarget Create(string name) => name switch
    {
        "safetensors" => new SafetensorsTarget(),
        "model-file" => new ModelFileTarget(),
        "checkpoint" => new CheckpointTarget(),
        "tfjs" => new TfjsTarget(),
        "png-mask" => new PngMaskTarget(),
        "image" => new ImageCodecTarget(),
        "voc" => new VocDatasetTarget(),
        "labels-csv" => new LabelsCsvTarget(),
        _ => throw new ArgumentException($"unknown reader '{name}'; readers: {string.Join(", ", Names)}", nameof(name)),
    };
}
