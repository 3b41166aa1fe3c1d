using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Wsss.Model.Serialization;

/// <summary>Where one tensor lies in a safetensors file (from the header, before reading any data).</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Begin">Start of its bytes, relative to the data buffer after the header.</param>
/// <param name="End">End of its bytes (exclusive), relative to the data buffer.</param>
public sealed record SafetensorsTensorInfo(string Name, TensorDType DType, long[] Shape, long Begin, long End);

/// <summary>A validated safetensors header: tensor layout and the free-form string metadata.</summary>
public sealed class SafetensorsHeader
{
    internal SafetensorsHeader(IReadOnlyList<SafetensorsTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata, long headerLength)
    {
        Tensors = tensors;
        Metadata = metadata;
        HeaderLength = headerLength;
    }

    /// <summary>The tensors in data order (increasing offsets).</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The "__metadata__" map; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Length in bytes of the JSON header (N); the data buffer starts at 8 + N.</summary>
    public long HeaderLength { get; }
}

/// <summary>The tensors and metadata read from a safetensors file.</summary>
public sealed class SafetensorsContent
{
    private readonly Dictionary<string, TensorData> _byName;

    internal SafetensorsContent(IReadOnlyList<TensorData> tensors, IReadOnlyDictionary<string, string> metadata, string? source)
    {
        Tensors = tensors;
        Metadata = metadata;
        Source = source;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The tensors in file data order.</summary>
    public IReadOnlyList<TensorData> Tensors { get; }

    /// <summary>The "__metadata__" map; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The file path or stream description the content came from, if known.</summary>
    public string? Source { get; }

    /// <summary>The tensor with this name.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor (the message names it and the source).</exception>
    public TensorData this[string name] => _byName.TryGetValue(name, out TensorData? tensor)
        ? tensor
        : throw new KeyNotFoundException($"{(Source is null ? "" : $"'{Source}': ")}no tensor named '{name}'");

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TensorData? tensor) =>
        _byName.TryGetValue(name, out tensor);
}

/// <summary>
/// Reads and writes the safetensors format (the Hugging Face layout, readable by Python's
/// <c>safetensors</c>): an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping tensor
/// names to {"dtype", "shape", "data_offsets"} plus an optional "__metadata__" string map, then the raw
/// little-endian tensor bytes in C order. Reading validates the header as strictly as the reference
/// implementation (offsets must tile the data buffer exactly) and reports problems as
/// <see cref="FileFormatException"/>.
/// </summary>
/// <remarks>
/// Writer layout, chosen to match the reference writer byte for byte: tensors are ordered by dtype
/// alignment, largest first, in the reference's dtype order (U64, I64, F64, F32, U32, I32, BF16, F16,
/// U16, I16, F8_E4M3, F8_E5M2, I8, U8, BOOL), then by name (UTF-8 byte order); data offsets follow that
/// order; the JSON is compact with "__metadata__" first (its keys sorted ordinally) and each tensor as
/// {"dtype","shape","data_offsets"}; the header is padded with spaces to a multiple of 8 bytes so every
/// tensor's data is 8-byte aligned when the file is memory-mapped.
/// </remarks>
public static class SafetensorsFile
{
    /// <summary>The largest header accepted, as in the reference implementation (100 MB).</summary>
    public const long MaxHeaderLength = 100_000_000;

    private const string MetadataKey = "__metadata__";
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads every tensor of a file, streaming it tensor by tensor (no second copy of the file).</summary>
    /// <exception cref="FileFormatException">The file is not a valid safetensors file.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SafetensorsContent Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return ReadCore(stream, stream.Length, path);
    }

    /// <summary>
    /// Reads a safetensors image from a stream, from its current position to its end (a non-seekable
    /// stream is buffered first, since validation needs the total length).
    /// </summary>
    /// <param name="stream">The stream; it is read, not disposed.</param>
    /// <param name="sourceName">A description used in error messages (for example a file name).</param>
    /// <exception cref="FileFormatException">The content is not a valid safetensors image.</exception>
    public static SafetensorsContent Read(Stream stream, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            buffer.Position = 0;
            return ReadCore(buffer, buffer.Length, sourceName);
        }

        return ReadCore(stream, stream.Length - stream.Position, sourceName);
    }

    /// <summary>Reads a safetensors image held in memory.</summary>
    /// <param name="bytes">The whole image.</param>
    /// <param name="sourceName">A description used in error messages.</param>
    /// <exception cref="FileFormatException">The content is not a valid safetensors image.</exception>
    public static SafetensorsContent Read(byte[] bytes, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var stream = new MemoryStream(bytes, writable: false);
        return ReadCore(stream, bytes.LongLength, sourceName);
    }

    /// <summary>Reads and validates only the header of a file (cheap even for a large file).</summary>
    /// <exception cref="FileFormatException">The file is not a valid safetensors file.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SafetensorsHeader ReadHeader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
        return ReadHeaderCore(stream, stream.Length, path);
    }

    /// <summary>
    /// Writes tensors (and optional metadata) to a file atomically: a temporary file in the same
    /// directory is written, flushed, then moved over <paramref name="path"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Duplicate or reserved tensor names.</exception>
    public static void Write(string path, IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Prepared prepared = Prepare(tensors, metadata);
        AtomicFile.Write(path, stream => WriteCore(stream, prepared));
    }

    /// <summary>Writes tensors (and optional metadata) as a safetensors image to a stream (not disposed).</summary>
    /// <exception cref="ArgumentException">Duplicate or reserved tensor names.</exception>
    public static void Write(Stream stream, IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        WriteCore(stream, Prepare(tensors, metadata));
    }

    /// <summary>Returns the safetensors image of the tensors and metadata as a byte array.</summary>
    /// <exception cref="ArgumentException">Duplicate or reserved tensor names.</exception>
    public static byte[] ToBytes(IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var stream = new MemoryStream();
        Write(stream, tensors, metadata);
        return stream.ToArray();
    }

    /// <summary>
    /// Reads only the "__metadata__" map of a file, checking the length field and that the header is
    /// a JSON object but not the tensor entries or layout (callers identify the file by its metadata
    /// before judging the rest).
    /// </summary>
    internal static IReadOnlyDictionary<string, string> ReadMetadataOnly(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
        return ReadHeaderCore(stream, stream.Length, path, metadataOnly: true).Metadata;
    }

    private static SafetensorsContent ReadCore(Stream stream, long length, string? source)
    {
        SafetensorsHeader header = ReadHeaderCore(stream, length, source);
        // Offsets were checked to tile the buffer in this order, so one sequential pass reads everything.
        var tensors = new List<TensorData>(header.Tensors.Count);
        foreach (SafetensorsTensorInfo info in header.Tensors)
        {
            long size = info.End - info.Begin;
            if (size > Array.MaxLength)
            {
                throw new FileFormatException(source, "tensor", info.Name, $"{size} bytes is larger than a .NET array can hold");
            }

            var data = new byte[size];
            try
            {
                stream.ReadExactly(data);
            }
            catch (EndOfStreamException e)
            {
                throw new FileFormatException(source, "tensor", info.Name, "file ended while reading the tensor's data (truncated)", e);
            }

            tensors.Add(new TensorData(info.Name, info.DType, info.Shape, data));
        }

        return new SafetensorsContent(tensors, header.Metadata, source);
    }

    /// <summary>Reads the length field and header; leaves the stream at the start of the data buffer.</summary>
    private static SafetensorsHeader ReadHeaderCore(Stream stream, long length, string? source, bool metadataOnly = false)
    {
        if (length < 8)
        {
            throw new FileFormatException(source, null,
                $"truncated or not a safetensors file: {length} bytes, shorter than the 8-byte header length field");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (n > (ulong)MaxHeaderLength)
        {
            throw new FileFormatException(source, null,
                $"header length {n} exceeds the {MaxHeaderLength}-byte limit (not a safetensors file?)");
        }

        if ((long)n > length - 8)
        {
            throw new FileFormatException(source, null,
                $"header length {n} is beyond the file size ({length} bytes): truncated or not a safetensors file");
        }

        var json = new byte[n];
        stream.ReadExactly(json);
        return ParseHeader(json, length - 8 - (long)n, source, metadataOnly);
    }

    internal static SafetensorsHeader ParseHeader(byte[] json, long bufferLength, string? source, bool metadataOnly = false)
    {
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            throw new FileFormatException(source, null, "header is not valid UTF-8 JSON: it holds invalid UTF-8 bytes");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new FileFormatException(source, null, $"header is not valid UTF-8 JSON: {e.Message}", e);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FileFormatException(source, null, $"header must be a JSON object, found {root.ValueKind}");
            }

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsTensorInfo>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw new FileFormatException(source, "tensor", property.Name, "name appears more than once in the header");
                }

                if (property.Name == MetadataKey)
                {
                    ParseMetadata(property.Value, metadata, source);
                }
                else if (!metadataOnly)
                {
                    tensors.Add(ParseTensorInfo(property.Name, property.Value, source));
                }
            }

            if (!metadataOnly)
            {
                ValidateLayout(tensors, bufferLength, source);
            }

            return new SafetensorsHeader(tensors, metadata, json.LongLength);
        }
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string? source)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return; // The reference reader accepts an explicit null (an absent map).
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new FileFormatException(source, "header entry", MetadataKey, $"must be an object of strings, found {value.ValueKind}");
        }

        foreach (JsonProperty entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw new FileFormatException(source, "header entry", MetadataKey,
                    $"value of '{entry.Name}' must be a string, found {entry.Value.ValueKind}");
            }

            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
            {
                throw new FileFormatException(source, "header entry", MetadataKey, $"key '{entry.Name}' appears more than once");
            }
        }
    }

    private static SafetensorsTensorInfo ParseTensorInfo(string name, JsonElement value, string? source)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new FileFormatException(source, "tensor", name, $"header entry must be an object, found {value.ValueKind}");
        }

        // The reference reader rejects repeated fields; JsonElement lookups would silently take one.
        var fields = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty field in value.EnumerateObject())
        {
            if (!fields.Add(field.Name))
            {
                throw new FileFormatException(source, "tensor", name, $"field \"{field.Name}\" appears more than once");
            }
        }

        if (!value.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw new FileFormatException(source, "tensor", name, "missing or non-string \"dtype\"");
        }

        string dtypeName = dtypeElement.GetString()!;
        if (!TensorDTypeExtensions.TryParseSafetensorsName(dtypeName, out TensorDType dtype))
        {
            throw new FileFormatException(source, "tensor", name, $"unknown dtype \"{dtypeName}\"");
        }

        long[] shape = ReadIntegerArray(value, "shape", name, source);
        long[] offsets = ReadIntegerArray(value, "data_offsets", name, source);
        if (offsets.Length != 2)
        {
            throw new FileFormatException(source, "tensor", name, $"\"data_offsets\" must hold 2 numbers [begin, end], found {offsets.Length}");
        }

        return new SafetensorsTensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] ReadIntegerArray(JsonElement entry, string key, string name, string? source)
    {
        if (!entry.TryGetProperty(key, out JsonElement array) || array.ValueKind != JsonValueKind.Array)
        {
            throw new FileFormatException(source, "tensor", name, $"missing or non-array \"{key}\"");
        }

        var result = new long[array.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
            {
                throw new FileFormatException(source, "tensor", name, $"\"{key}\" must hold non-negative integers, found {item.GetRawText()}");
            }

            result[i++] = v;
        }

        return result;
    }

    /// <summary>
    /// Enforces the format's layout rules: each range matches shape x dtype size and lies inside the
    /// buffer, and the ranges tile the buffer from 0 to its end without overlap or hole. Sorts
    /// <paramref name="tensors"/> into data order.
    /// </summary>
    private static void ValidateLayout(List<SafetensorsTensorInfo> tensors, long bufferLength, string? source)
    {
        foreach (SafetensorsTensorInfo t in tensors)
        {
            string range = $"data_offsets [{t.Begin}, {t.End}]";
            if (t.End < t.Begin)
            {
                throw new FileFormatException(source, "tensor", t.Name, $"{range}: end is before begin");
            }

            long? count = TensorData.CountElements(t.Shape);
            long expected = 0;
            bool overflow = count is null;
            if (!overflow)
            {
                try
                {
                    expected = checked(count!.Value * t.DType.ElementSize());
                }
                catch (OverflowException)
                {
                    overflow = true;
                }
            }

            if (overflow)
            {
                throw new FileFormatException(source, "tensor", t.Name, $"shape [{string.Join(", ", t.Shape)}] overflows");
            }

            if (t.End - t.Begin != expected)
            {
                throw new FileFormatException(source, "tensor", t.Name,
                    $"{range} span {t.End - t.Begin} bytes but {t.DType.SafetensorsName()} shape [{string.Join(", ", t.Shape)}] needs {expected}");
            }

            if (t.End > bufferLength)
            {
                throw new FileFormatException(source, "tensor", t.Name,
                    $"{range} run past the end of the data buffer ({bufferLength} bytes): offsets out of range or file truncated");
            }
        }

        tensors.Sort((a, b) =>
        {
            int c = a.Begin.CompareTo(b.Begin);
            return c != 0 ? c : a.End.CompareTo(b.End);
        });

        long position = 0;
        SafetensorsTensorInfo? previous = null;
        foreach (SafetensorsTensorInfo t in tensors)
        {
            if (t.Begin < position)
            {
                throw new FileFormatException(source, "tensor", t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] overlap tensor '{previous!.Name}' [{previous.Begin}, {previous.End}]");
            }

            if (t.Begin > position)
            {
                throw new FileFormatException(source, "tensor", t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] leave a hole: buffer bytes [{position}, {t.Begin}) belong to no tensor");
            }

            position = t.End;
            previous = t;
        }

        if (position != bufferLength)
        {
            throw new FileFormatException(source, null,
                $"the data buffer has {bufferLength} bytes but the tensors cover only {position}: {bufferLength - position} trailing bytes belong to no tensor");
        }
    }

    private sealed record Prepared(byte[] Header, IReadOnlyList<TensorData> Tensors);

    private static Prepared Prepare(IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = new List<(TensorData Tensor, byte[] Utf8Name)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (TensorData tensor in tensors)
        {
            ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
            if (tensor.Name == MetadataKey)
            {
                throw new ArgumentException($"'{MetadataKey}' is reserved and cannot name a tensor", nameof(tensors));
            }

            if (!names.Add(tensor.Name))
            {
                throw new ArgumentException($"two tensors are named '{tensor.Name}'", nameof(tensors));
            }

            list.Add((tensor, EncodeUtf8(tensor.Name, nameof(tensors))));
        }

        // The reference writer's order: larger alignment first (reverse dtype declaration order), then name bytes.
        list.Sort((a, b) =>
        {
            int c = b.Tensor.DType.CompareTo(a.Tensor.DType);
            return c != 0 ? c : a.Utf8Name.AsSpan().SequenceCompareTo(b.Utf8Name);
        });

        var json = new StringBuilder();
        json.Append('{');
        bool first = true;
        if (metadata is { Count: > 0 })
        {
            json.Append('"').Append(MetadataKey).Append("\":{");
            bool firstEntry = true;
            foreach (KeyValuePair<string, string> entry in metadata.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                ArgumentNullException.ThrowIfNull(entry.Value, nameof(metadata));
                json.Append(firstEntry ? "" : ",");
                AppendJsonString(json, entry.Key);
                json.Append(':');
                AppendJsonString(json, entry.Value);
                firstEntry = false;
            }

            json.Append('}');
            first = false;
        }

        long offset = 0;
        foreach ((TensorData tensor, _) in list)
        {
            json.Append(first ? "" : ",");
            first = false;
            AppendJsonString(json, tensor.Name);
            json.Append(":{\"dtype\":\"").Append(tensor.DType.SafetensorsName()).Append("\",\"shape\":[");
            json.AppendJoin(',', tensor.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
            long end = offset + tensor.Data.LongLength;
            json.Append("],\"data_offsets\":[")
                .Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(end.ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset = end;
        }

        json.Append('}');
        // Space padding to 8 bytes keeps the data buffer 8-byte aligned, as the reference writer does.
        int byteCount = StrictUtf8.GetByteCount(json.ToString());
        json.Append(' ', (8 - (byteCount % 8)) % 8);
        byte[] header = EncodeUtf8(json.ToString(), nameof(metadata));
        if (header.LongLength > MaxHeaderLength)
        {
            throw new ArgumentException($"the header would be {header.LongLength} bytes, over the {MaxHeaderLength}-byte limit readers accept");
        }

        return new Prepared(header, list.ConvertAll(e => e.Tensor));
    }

    private static void WriteCore(Stream stream, Prepared prepared)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)prepared.Header.LongLength);
        stream.Write(lengthBytes);
        stream.Write(prepared.Header);
        foreach (TensorData tensor in prepared.Tensors)
        {
            stream.Write(tensor.Data);
        }

        stream.Flush();
    }

    private static byte[] EncodeUtf8(string text, string paramName)
    {
        try
        {
            return StrictUtf8.GetBytes(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"'{text}' is not valid Unicode (unpaired surrogate)", paramName, e);
        }
    }

    // Escapes like the reference writer (serde_json): quote, backslash and control characters only;
    // everything else, non-ASCII included, is written as is.
    private static void AppendJsonString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                default:
                    if (c < 0x20)
                    {
                        json.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        json.Append(c);
                    }

                    break;
            }
        }

        json.Append('"');
    }
}
