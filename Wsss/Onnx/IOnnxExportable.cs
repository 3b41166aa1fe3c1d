namespace Wsss.Onnx;

/// <summary>
/// A module that can write its inference computation into an ONNX graph. Each exporter sits beside its module's
/// forward, so a change to one is seen next to the other; a backbone without it cannot be exported (the error names it).
/// </summary>
internal interface IOnnxExportable
{
    /// <summary>Adds the module's nodes reading value <paramref name="input"/>; returns the output value's name.</summary>
    /// <param name="graph">The graph being built.</param>
    /// <param name="input">The input value (N, C, H, W).</param>
    /// <param name="name">The module's state-dict prefix (for example "backbone"), used to name initialisers.</param>
    string ExportOnnx(OnnxGraph graph, string input, string name);
}
