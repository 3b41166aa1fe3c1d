using Microsoft.ML;
using Microsoft.ML.Data;

namespace Wsss.MLNet.Internal;

/// <summary>
/// Computes the added columns of one row. Work happens at most once per input row (keyed by
/// <see cref="DataViewRow.Position"/>), however many of the added columns are read: one forward pass
/// serves the mask, its size and the probabilities.
/// </summary>
internal abstract class RowComputer
{
    private long computedPosition = -1;

    protected RowComputer(DataViewRow input) => Input = input;

    protected DataViewRow Input { get; }

    /// <summary>Fills the values of the current row.</summary>
    protected abstract void Compute();

    /// <summary>A getter for added column <paramref name="index"/> (in <see cref="RowMapping.AddedColumns"/> order).</summary>
    public abstract Delegate GetGetter(int index);

    protected void EnsureComputed()
    {
        long position = Input.Position;
        if (position < 0)
        {
            throw new InvalidOperationException("The row has no current value (the cursor has not moved yet).");
        }

        if (position != computedPosition)
        {
            Compute();
            computedPosition = position;
        }
    }
}

/// <summary>A set of added columns bound to one input schema: the shared part of the lazy views, cursors and row mappers.</summary>
internal abstract class RowMapping : IRowToRowMapper
{
    protected RowMapping(DataViewSchema inputSchema, IReadOnlyList<(string Name, DataViewType Type)> added)
    {
        InputSchema = inputSchema;
        AddedColumns = added;
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (var (name, type) in added)
        {
            builder.AddColumn(name, type);
        }

        OutputSchema = builder.ToSchema();
    }

    public DataViewSchema InputSchema { get; }

    public DataViewSchema OutputSchema { get; }

    public IReadOnlyList<(string Name, DataViewType Type)> AddedColumns { get; }

    /// <summary>Input columns that the added columns are computed from.</summary>
    public abstract IReadOnlyList<DataViewSchema.Column> Sources { get; }

    public abstract RowComputer CreateComputer(DataViewRow input);

    public bool IsAdded(int outputIndex) => outputIndex >= InputSchema.Count;

    /// <inheritdoc/>
    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var needed = new HashSet<int>();
        foreach (var column in dependingColumns)
        {
            if (IsAdded(column.Index))
            {
                needed.UnionWith(Sources.Select(s => s.Index));
            }
            else
            {
                needed.Add(column.Index);
            }
        }

        return needed.Order().Select(i => InputSchema[i]).ToArray();
    }

    /// <inheritdoc/>
    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Schema != InputSchema)
        {
            throw new ArgumentException("The row's schema is not the schema this mapper was created for.", nameof(input));
        }

        return new MappedRow(this, input, activeColumns);
    }
}

/// <summary>The lazy output of a transformer: cursors compute the added columns only for rows that are read.</summary>
internal sealed class MappedDataView(IDataView source, RowMapping mapping) : IDataView
{
    public bool CanShuffle => source.CanShuffle;

    public DataViewSchema Schema => mapping.OutputSchema;

    public long? GetRowCount() => source.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToArray();
        var inputCursor = source.GetRowCursor(mapping.GetDependencies(needed), rand);
        return new MappedRow(mapping, inputCursor, needed);
    }

    // One cursor: the model already uses all cores for each image, and splitting would only reorder rows.
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];
}

/// <summary>A row (or cursor) over the input row with the added columns appended.</summary>
internal sealed class MappedRow : DataViewRowCursor
{
    private readonly RowMapping mapping;
    private readonly DataViewRow input;
    private readonly bool[] active;
    private RowComputer? computer;

    public MappedRow(RowMapping mapping, DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        this.mapping = mapping;
        this.input = input;
        active = new bool[mapping.OutputSchema.Count];
        foreach (var column in activeColumns)
        {
            active[column.Index] = true;
        }
    }

    public override DataViewSchema Schema => mapping.OutputSchema;

    public override long Position => input.Position;

    public override long Batch => input.Batch;

    public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

    public override bool IsColumnActive(DataViewSchema.Column column) =>
        mapping.IsAdded(column.Index) ? active[column.Index] : input.IsColumnActive(mapping.InputSchema[column.Index]);

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (!mapping.IsAdded(column.Index))
        {
            return input.GetGetter<TValue>(mapping.InputSchema[column.Index]);
        }

        if (!active[column.Index])
        {
            throw new InvalidOperationException($"Column '{column.Name}' was not requested as active, so it cannot be read.");
        }

        // Created on the first added getter: the computer binds the source getters, which are only active
        // on the input when an added column was requested.
        computer ??= mapping.CreateComputer(input);
        Delegate getter = computer.GetGetter(column.Index - mapping.InputSchema.Count);
        return getter as ValueGetter<TValue> ?? throw new InvalidOperationException(
            $"Column '{column.Name}' holds {column.Type}; it cannot be read as {typeof(TValue).Name}.");
    }

    public override bool MoveNext() =>
        input is DataViewRowCursor cursor ? cursor.MoveNext() : throw new InvalidOperationException("This row is not a cursor.");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            input.Dispose();
        }

        base.Dispose(disposing);
    }
}
