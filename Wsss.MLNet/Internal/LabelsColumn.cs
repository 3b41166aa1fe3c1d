using Microsoft.ML;
using Microsoft.ML.Data;

namespace Wsss.MLNet.Internal;

/// <summary>
/// Reads the image-level labels of a row as class names: a text column with separators ("cat;dog"),
/// a vector of text, or a key column (scalar or vector) whose key values name the classes.
/// </summary>
internal sealed class LabelsColumn
{
    public const string ExpectedType = "Text (class names separated by the label separators), a vector of Text, or Key (scalar or vector)";

    // ML.NET's annotation kind for the names of key values (AnnotationUtils.Kinds.KeyValues is internal).
    private const string KeyValuesKind = "KeyValues";

    private readonly DataViewSchema.Column column;
    private readonly char[] separators;
    private readonly string[]? keyNames;

    private LabelsColumn(DataViewSchema.Column column, char[] separators, string[]? keyNames)
    {
        this.column = column;
        this.separators = separators;
        this.keyNames = keyNames;
    }

    public DataViewSchema.Column Column => column;

    public static LabelsColumn Bind(DataViewSchema schema, string name, char[] separators)
    {
        var column = schema.GetColumnOrNull(name) ?? throw SchemaErrors.Missing(name, ExpectedType);
        DataViewType item = column.Type is VectorDataViewType v ? v.ItemType : column.Type;
        if (item is TextDataViewType)
        {
            return new LabelsColumn(column, separators, null);
        }

        if (item is KeyDataViewType key && key.RawType == typeof(uint))
        {
            string[]? names = null;
            if (column.Annotations.Schema.GetColumnOrNull(KeyValuesKind) is { } kv && kv.Type is VectorDataViewType { ItemType: TextDataViewType })
            {
                VBuffer<ReadOnlyMemory<char>> values = default;
                column.Annotations.GetValue(KeyValuesKind, ref values);
                names = values.DenseValues().Select(m => m.ToString()).ToArray();
            }

            return new LabelsColumn(column, separators, names);
        }

        throw SchemaErrors.WrongType(name, ExpectedType, column.Type);
    }

    public static void Check(SchemaShape shape, string name)
    {
        var column = shape.FirstOrDefault(c => c.Name == name);
        if (column.Name is null)
        {
            throw SchemaErrors.Missing(name, ExpectedType);
        }

        bool ok = (column.ItemType is TextDataViewType && !column.IsKey) || (column.IsKey && column.ItemType.RawType == typeof(uint));
        if (!ok)
        {
            throw SchemaErrors.WrongType(name, ExpectedType, SchemaErrors.Describe(column));
        }
    }

    /// <summary>A reader of the current row's class names (distinct, in order of appearance).</summary>
    public Func<string[]> CreateReader(DataViewRow row)
    {
        if (column.Type is TextDataViewType)
        {
            var getter = row.GetGetter<ReadOnlyMemory<char>>(column);
            ReadOnlyMemory<char> text = default;
            return () =>
            {
                getter(ref text);
                return Clean(text.ToString().Split(separators));
            };
        }

        if (column.Type is VectorDataViewType { ItemType: TextDataViewType })
        {
            var getter = row.GetGetter<VBuffer<ReadOnlyMemory<char>>>(column);
            VBuffer<ReadOnlyMemory<char>> values = default;
            return () =>
            {
                getter(ref values);
                return Clean(values.DenseValues().Select(m => m.ToString()));
            };
        }

        if (column.Type is VectorDataViewType)
        {
            var getter = row.GetGetter<VBuffer<uint>>(column);
            VBuffer<uint> values = default;
            return () =>
            {
                getter(ref values);
                return Clean(values.DenseValues().Where(k => k != 0).Select(KeyName));
            };
        }

        var scalar = row.GetGetter<uint>(column);
        return () =>
        {
            uint k = 0;
            scalar(ref k);
            return k == 0 ? [] : [KeyName(k)];
        };
    }

    // Key 0 means missing; key k names keyNames[k - 1].
    private string KeyName(uint key) =>
        keyNames is not null && key <= keyNames.Length ? keyNames[key - 1] : key.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string[] Clean(IEnumerable<string> names) =>
        names.Select(n => n.Trim()).Where(n => n.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
}
