using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using Wsss.Model;
using static TorchSharp.torch;

namespace Wsss.Onnx;

/// <summary>
/// Writes the inference graph of an <see cref="RrmNetwork"/>'s segmentation branch as an ONNX model: optional input
/// normalisation, the backbone, the segmentation head, bilinear upsampling to the input size and a softmax over the
/// classes (what <see cref="Inference.SegmentationModel.Predict(Imaging.RgbImage, Inference.PredictionOptions?)"/>
/// computes at a single scale), and optionally the normalised CAMs. Each module writes its own nodes
/// (<see cref="IOnnxExportable"/>).
/// </summary>
/// <remarks>
/// metadata_props keys: "wsss.format" ("wsss-rrm-onnx"), "wsss.format_version" ("1"), "wsss.backbone",
/// "wsss.backbone_width", "wsss.class_names" (JSON array of the foreground classes; output channel c + 1 is class c,
/// channel 0 background), "wsss.input_normalization" (JSON {"scale", "mean", "std"}, as in the model file),
/// "wsss.input_format" (an <see cref="OnnxInputFormat"/> name: whether that normalisation is inside the graph) and
/// "wsss.outputs" (comma-separated output names).
/// </remarks>
internal static class OnnxExporter
{
    public const string FormatName = "wsss-rrm-onnx";
    public const string KeyPrefix = "wsss.";

    /// <summary>The backbones with an exporter, for the error message of those without.</summary>
    private static readonly string[] Supported = [nameof(SmallCnn), nameof(MobileNetV1), nameof(ResNet38), nameof(ResNet18), nameof(ResNet50), nameof(ResNet101)];

    public static ModelProto Build(RrmNetwork network, ModelFileMetadata metadata, OnnxExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (network.Backbone is not IOnnxExportable backbone)
        {
            throw new NotSupportedException(
                $"The backbone {network.Backbone.GetType().Name} ({network.Backbone.Kind}) has no ONNX exporter; the exportable backbones are {string.Join(", ", Supported)}.");
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var graph = new OnnxGraph(options.Opset);
        object batch = options.BatchSize is int n ? n : "batch";
        int inputChannels = options.InputFormat == OnnxInputFormat.BgraPlanes ? 4 : 3;
        graph.Proto.Input.Add(OnnxGraph.FloatValue(OnnxExportOptions.InputName, batch, inputChannels, "height", "width"));
        foreach (string reserved in new[] { OnnxExportOptions.InputName, OnnxExportOptions.ProbabilitiesName, OnnxExportOptions.ClassActivationMapsName })
        {
            _ = graph.Unique(reserved);
        }

        string image = OnnxExportOptions.InputName;
        string x = Normalize(graph, image, metadata.Normalization, options.InputFormat);
        string features = backbone.ExportOnnx(graph, x, "backbone");
        string logits = network.Segmentation.ExportOnnx(graph, features, "segmentation");
        string upsampled = graph.ResizeBilinearLike(logits, image, "logits_upsampled");
        AddOutput(graph, graph.SoftmaxOverChannels(upsampled, "softmax"), OnnxExportOptions.ProbabilitiesName);
        graph.Proto.Output.Add(OnnxGraph.FloatValue(OnnxExportOptions.ProbabilitiesName, batch, network.Classes + 1, "height", "width"));
        var outputs = new List<string> { OnnxExportOptions.ProbabilitiesName };

        if (options.IncludeClassActivationMaps)
        {
            // RrmNetwork.MultiScaleCam without extra scales and with every class present: upsample, then divide each map
            // by its maximum + 1e-5 (GlobalMaxPool is that maximum over H and W, in every opset).
            string cam = network.Classifier.ExportCam(graph, features, "classifier");
            string camUp = graph.ResizeBilinearLike(cam, image, "cam_upsampled");
            string peak = graph.Add(graph.Node("GlobalMaxPool", [camUp], "cam_peak"), graph.Scalar("cam_epsilon", 1e-5f), "cam_peak_eps");
            AddOutput(graph, graph.Div(camUp, peak, "cam_normalised"), OnnxExportOptions.ClassActivationMapsName);
            graph.Proto.Output.Add(OnnxGraph.FloatValue(OnnxExportOptions.ClassActivationMapsName, batch, network.Classes, "height", "width"));
            outputs.Add(OnnxExportOptions.ClassActivationMapsName);
        }

        var model = new ModelProto
        {
            IrVersion = IrVersion(options.Opset),
            ProducerName = "Wsss",
            ProducerVersion = ModelFileMetadata.CurrentLibraryVersion,
            ModelVersion = 1,
            DocString = $"RRM segmentation branch ({metadata.Backbone}), single scale: input '{OnnxExportOptions.InputName}' ({options.InputFormat}), outputs {string.Join(", ", outputs)}.",
            Graph = graph.Proto,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = options.Opset });
        Metadata(model, "format", FormatName);
        Metadata(model, "format_version", "1");
        Metadata(model, "backbone", metadata.Backbone.ToString());
        Metadata(model, "backbone_width", metadata.BackboneWidth.ToString("R", CultureInfo.InvariantCulture));
        Metadata(model, "class_names", JsonSerializer.Serialize(metadata.ClassNames));
        Metadata(model, "input_normalization", metadata.Normalization.ToJson());
        Metadata(model, "input_format", options.InputFormat.ToString());
        Metadata(model, "outputs", string.Join(",", outputs));
        return model;
    }

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> atomically (a reader never sees half a file).</summary>
    public static void Write(ModelProto model, string path) => AtomicFile.Write(path, stream => model.WriteTo(stream));

    private static string Normalize(OnnxGraph graph, string image, InputNormalization normalization, OnnxInputFormat format)
    {
        if (format == OnnxInputFormat.Normalized)
        {
            return image;
        }

        string rgb = image;
        if (format == OnnxInputFormat.BgraPlanes)
        {
            rgb = graph.Node("Gather", [image, graph.Int64s(2, 1, 0)], "rgb", OnnxGraph.Attribute("axis", 1L));
        }

        // The same float multiply-add per channel as ImageTensors.ToTensor, so the normalised values are bit-equal.
        var multiplier = new float[3];
        var offset = new float[3];
        for (int c = 0; c < 3; c++)
        {
            (multiplier[c], offset[c]) = normalization.GetChannelAffine(c);
        }

        string scaled = graph.Mul(rgb, graph.Initializer("normalization.multiplier", multiplier, [1, 3, 1, 1]), "scaled");
        return graph.Add(scaled, graph.Initializer("normalization.offset", offset, [1, 3, 1, 1]), "normalized");
    }

    /// <summary>Renames the last node's output to the graph output's name.</summary>
    private static void AddOutput(OnnxGraph graph, string value, string outputName)
    {
        var node = graph.Proto.Node.Last(n => n.Output.Contains(value));
        node.Output[node.Output.IndexOf(value)] = outputName;
    }

    private static void Metadata(ModelProto model, string key, string value) =>
        model.MetadataProps.Add(new StringStringEntryProto { Key = KeyPrefix + key, Value = value });

    // The IR version that introduced each opset (onnx/helper.py's VERSION_TABLE).
    private static long IrVersion(int opset) => opset switch
    {
        <= 18 => 8,
        <= 20 => 9,
        _ => 10,
    };
}
