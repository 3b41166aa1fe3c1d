using Microsoft.ML;
using Microsoft.ML.Data;

namespace Wsss.MLNet.Internal;

/// <summary>
/// Builds the output <see cref="SchemaShape"/> of the estimators. ML.NET keeps the constructor of
/// <see cref="SchemaShape.Column"/> internal, so the added columns are taken from the schema shape of a
/// <c>CustomMapping</c> estimator whose output type mirrors them (the mapping itself never runs).
/// </summary>
internal static class SchemaShapes
{
    public static SchemaShape Append(TransformsCatalog catalog, SchemaShape input, Type mirror, IReadOnlyDictionary<string, string?> names)
    {
        var definition = SchemaDefinition.Create(mirror, SchemaDefinition.Direction.Write);
        foreach (var column in definition.ToArray())
        {
            // A null name drops an optional column; the others are renamed to the configured names.
            if (names.TryGetValue(column.MemberName, out string? name) && name is null)
            {
                definition.Remove(column);
            }
            else if (name is not null)
            {
                column.ColumnName = name;
            }
        }

        var added = Added(catalog, mirror, definition);
        var result = input.Where(c => added.All(a => a.Name != c.Name)).ToList();
        result.AddRange(added);
        return new SchemaShape(result);
    }

    private static SchemaShape Added(TransformsCatalog catalog, Type mirror, SchemaDefinition definition)
    {
        var method = typeof(SchemaShapes).GetMethod(nameof(AddedTyped), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(mirror);
        return (SchemaShape)method.Invoke(null, [catalog, definition])!;
    }

    private static SchemaShape AddedTyped<TMirror>(TransformsCatalog catalog, SchemaDefinition definition)
        where TMirror : class, new()
    {
        var estimator = catalog.CustomMapping<NoColumns, TMirror>((_, _) => { }, contractName: null, outputSchemaDefinition: definition);
        return estimator.GetOutputSchema(new SchemaShape([]));
    }
}

/// <summary>The input type of the schema-only custom mapping: it reads no column.</summary>
internal sealed class NoColumns
{
}

/// <summary>Mirror of the columns the segmentation transform adds.</summary>
internal sealed class SegmentationColumns
{
    public uint[] PredictedMask { get; set; } = [];
    public int MaskHeight { get; set; }
    public int MaskWidth { get; set; }
    public float[] ClassProbabilities { get; set; } = [];

    /// <summary>The configured names of these columns (null drops the optional probabilities).</summary>
    public static Dictionary<string, string?> Names(SegmentationPredictionOptions options) => new()
    {
        [nameof(PredictedMask)] = options.PredictedMaskColumnName,
        [nameof(MaskHeight)] = options.MaskHeightColumnName,
        [nameof(MaskWidth)] = options.MaskWidthColumnName,
        [nameof(ClassProbabilities)] = options.OutputClassProbabilities ? options.ClassProbabilitiesColumnName : null,
    };
}

/// <summary>Mirror of the columns the image-loading transform adds.</summary>
internal sealed class DecodedImageColumns
{
    public byte[] Image { get; set; } = [];
    public int ImageHeight { get; set; }
    public int ImageWidth { get; set; }
}

/// <summary>Mirror of the columns the seeds transform adds.</summary>
internal sealed class SeedColumns
{
    public float[] ClassActivationMaps { get; set; } = [];
    public uint[] ReliableSeeds { get; set; } = [];
    public uint[] PseudoMask { get; set; } = [];
    public int MaskHeight { get; set; }
    public int MaskWidth { get; set; }
}
