using System.Buffers.Binary;
using System.IO.Compression;
using CsCheck;
using Wsss.Imaging;

namespace Wsss.Samples.Bench.Fuzz;

/// <summary>
/// <see cref="PalettePng.Decode(string)"/>: indexed and grayscale PNGs of every bit depth it reads (1, 2, 4, 8),
/// interlaced or not, with random filters, split IDAT and ancillary chunks, written by an encoder of this
/// file; damaged by bytes (mostly caught by the CRCs), by edits that keep the CRCs right (absurd IHDR sizes,
/// bit depths, colour types, chunk data, replaced IDAT streams), and by chunk-level edits (lengths, order,
/// missing or repeated chunks).
/// </summary>
internal sealed class PngMaskTarget : FuzzTarget
{
    private const string FileName = "mask.png";

    public override string Name => "png-mask";

    public override Type DocumentedException => typeof(ImageFormatException);

    /// <summary>An image to encode: size, samples, format choices.</summary>
    internal sealed record Spec(int Width, int Height, int BitDepth, bool Grayscale, bool Interlaced, byte[] Samples, byte[] Filters, int IdatParts, bool Ancillary);

    internal static Gen<Spec> SpecGen { get; } =
        Gen.Select(Gen.Int[1, 24], Gen.Int[1, 24], Gen.OneOf(1, 2, 4, 8), Gen.Bool, Gen.Bool, Gen.UInt, Gen.Int[1, 3], Gen.Bool)
            .Select((w, h, depth, gray, interlaced, seed, parts, ancillary) =>
            {
                var random = new Random((int)seed);
                var samples = new byte[w * h];
                int max = 1 << depth;
                for (int i = 0; i < samples.Length; i++)
                {
                    samples[i] = (byte)random.Next(Math.Min(max, depth == 8 ? 256 : max));
                }

                var filters = new byte[h * 2];
                for (int i = 0; i < filters.Length; i++)
                {
                    filters[i] = (byte)random.Next(5);
                }

                return new Spec(w, h, depth, gray, interlaced, samples, filters, parts, ancillary);
            });

    /// <summary>Encodes the spec as a PNG (palette of 2^depth entries unless grayscale).</summary>
    internal static byte[] Encode(Spec s)
    {
        var chunks = new List<(string Type, byte[] Data)>();
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, s.Width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), s.Height);
        ihdr[8] = (byte)s.BitDepth;
        ihdr[9] = (byte)(s.Grayscale ? 0 : 3);
        ihdr[12] = (byte)(s.Interlaced ? 1 : 0);
        chunks.Add(("IHDR", ihdr));
        if (s.Ancillary)
        {
            chunks.Add(("tEXt", "Comment\0fuzz"u8.ToArray()));
        }

        if (!s.Grayscale)
        {
            chunks.Add(("PLTE", Enumerable.Range(0, 3 << s.BitDepth).Select(i => (byte)(i * 7)).ToArray()));
        }

        byte[] raw = Scanlines(s);
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(raw);
        }

        byte[] stream = compressed.ToArray();
        for (int p = 0; p < s.IdatParts; p++)
        {
            chunks.Add(("IDAT", stream[(stream.Length * p / s.IdatParts)..(stream.Length * (p + 1) / s.IdatParts)]));
        }

        chunks.Add(("IEND", []));
        return Assemble(chunks);
    }

    internal static byte[] Assemble(IEnumerable<(string Type, byte[] Data)> chunks)
    {
        using var output = new MemoryStream();
        output.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        foreach (var (type, data) in chunks)
        {
            WriteChunk(output, type, data, data.Length);
        }

        return output.ToArray();
    }

    internal static void WriteChunk(Stream output, string type, byte[] data, long declaredLength)
    {
        var word = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)declaredLength);
        output.Write(word);
        byte[] typeBytes = System.Text.Encoding.Latin1.GetBytes(type);
        output.Write(typeBytes);
        output.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Finish(Crc32.Update(Crc32.Update(Crc32.Start, typeBytes), data)));
        output.Write(word);
    }

    /// <summary>The chunks of a PNG written by <see cref="Encode"/> (or any well-formed PNG).</summary>
    internal static List<(string Type, byte[] Data)> Chunks(byte[] png)
    {
        var chunks = new List<(string, byte[])>();
        for (int pos = 8; pos + 12 <= png.Length;)
        {
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos));
            chunks.Add((System.Text.Encoding.Latin1.GetString(png, pos + 4, 4), png[(pos + 8)..(pos + 8 + length)]));
            pos += 12 + length;
        }

        return chunks;
    }

    private static byte[] Scanlines(Spec s)
    {
        var raw = new MemoryStream();
        (int X0, int Y0, int Dx, int Dy)[] passes = s.Interlaced
            ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            : [(0, 0, 1, 1)];
        int row = 0;
        foreach (var (x0, y0, dx, dy) in passes)
        {
            int pw = (s.Width - x0 + dx - 1) / dx, ph = (s.Height - y0 + dy - 1) / dy;
            if (pw <= 0 || ph <= 0)
            {
                continue;
            }

            int rowBytes = ((pw * s.BitDepth) + 7) / 8;
            var prev = new byte[rowBytes];
            for (int y = 0; y < ph; y++, row++)
            {
                var cur = new byte[rowBytes];
                for (int x = 0; x < pw; x++)
                {
                    int v = s.Samples[((y0 + (y * dy)) * s.Width) + x0 + (x * dx)];
                    int bit = x * s.BitDepth;
                    cur[bit >> 3] |= (byte)(v << (8 - s.BitDepth - (bit & 7)));
                }

                int filter = s.Filters[row % s.Filters.Length];
                raw.WriteByte((byte)filter);
                for (int i = 0; i < rowBytes; i++)
                {
                    int a = i > 0 ? cur[i - 1] : 0, b = prev[i], c = i > 0 ? prev[i - 1] : 0;
                    int predicted = filter switch
                    {
                        1 => a,
                        2 => b,
                        3 => (a + b) >> 1,
                        4 => Paeth(a, b, c),
                        _ => 0,
                    };
                    raw.WriteByte((byte)(cur[i] - predicted));
                }

                prev = cur;
            }
        }

        return raw.ToArray();
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>Chunk-level damage that keeps every CRC right, so that it reaches the decoder proper.</summary>
    internal static Gen<(string What, Func<List<(string Type, byte[] Data)>, List<(string Type, byte[] Data)>> Edit)> ChunkDamage { get; } = Gen.OneOf(
        // IHDR fields: absurd width / height, bit depth, colour type, methods, interlace.
        Gen.Select(Gen.OneOf(0, 4, 8, 9, 10, 11, 12), Gen.OneOf(Mutations.AbsurdIntegers)).Select((offset, value) => (
            $"IHDR byte {offset} = {value}",
            (Func<List<(string, byte[])>, List<(string, byte[])>>)(chunks => chunks.Select(c => c.Item1 == "IHDR" ? (c.Item1, SetField(c.Item2, offset, value)) : c).ToList()))),
        // A chunk's data flipped with the CRC recomputed (IDAT: corrupt zlib; PLTE; IHDR).
        Gen.Select(Gen.Int[0, 20], Mutations.Fraction, Gen.Byte).Select((index, at, mask) => (
            $"chunk #{index} byte {at:F3} ^ {mask | 1}",
            (Func<List<(string, byte[])>, List<(string, byte[])>>)(chunks =>
            {
                var copy = chunks.ToList();
                var (type, data) = copy[index % copy.Count];
                if (data.Length > 0)
                {
                    data = (byte[])data.Clone();
                    data[Math.Min(data.Length - 1, (int)(at * data.Length))] ^= (byte)(mask | 1);
                }

                copy[index % copy.Count] = (type, data);
                return copy;
            }))),
        // The IDAT stream replaced: too short, too long, a 1000:1 'zlib bomb', not zlib at all, empty.
        Gen.OneOf(0, 1, 2, 3, 4).Select(kind => (
            $"IDAT replaced ({kind})",
            (Func<List<(string, byte[])>, List<(string, byte[])>>)(chunks =>
            {
                byte[] replacement = kind switch
                {
                    0 => Deflate(new byte[3]),
                    1 => Deflate(new byte[1 << 20]),
                    2 => Deflate(new byte[8 << 20]),
                    3 => [1, 2, 3, 4, 5],
                    _ => [],
                };
                var result = chunks.Where(c => c.Item1 != "IDAT").ToList();
                result.Insert(result.FindIndex(c => c.Item1 == "IEND") is int end and >= 0 ? end : result.Count, ("IDAT", replacement));
                return result;
            }))),
        // Chunks removed, repeated, reordered, unknown critical chunk, palette of a bad length.
        Gen.Select(Gen.OneOf(0, 1, 2, 3, 4, 5), Gen.Int[0, 20]).Select((kind, index) => (
            $"chunk edit {kind} at #{index}",
            (Func<List<(string, byte[])>, List<(string, byte[])>>)(chunks =>
            {
                var copy = chunks.ToList();
                int i = index % copy.Count;
                switch (kind)
                {
                    case 0: copy.RemoveAt(i); break;
                    case 1: copy.Insert(i, copy[i]); break;
                    case 2: copy.Reverse(); break;
                    case 3: copy.Insert(i, ("ZZZZ", [1, 2, 3])); break;
                    case 4: copy.Insert(Math.Max(1, i), ("PLTE", new byte[769])); break;
                    default: copy.Insert(Math.Max(1, i), ("PLTE", new byte[4])); break;
                }

                return copy;
            }))));

    private static byte[] SetField(byte[] ihdr, int offset, ulong value)
    {
        byte[] copy = (byte[])ihdr.Clone();
        if (offset <= 4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(offset), (uint)value);
        }
        else
        {
            copy[offset] = (byte)value;
        }

        return copy;
    }

    private static byte[] Deflate(byte[] data)
    {
        using var output = new MemoryStream();
        using (var z = new ZLibStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            z.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>A chunk whose length field claims more (or less) than it holds, CRC over what it holds.</summary>
    private static Gen<(string What, Func<byte[], byte[]> Edit)> LengthDamage { get; } =
        Gen.Select(Gen.Int[0, 6], Gen.OneOf(Mutations.AbsurdIntegers)).Select((index, value) => (
            $"chunk #{index} length = {value}",
            (Func<byte[], byte[]>)(png =>
            {
                var chunks = Chunks(png);
                using var output = new MemoryStream();
                output.Write(png.AsSpan(0, 8));
                for (int i = 0; i < chunks.Count; i++)
                {
                    WriteChunk(output, chunks[i].Type, chunks[i].Data, i == index % chunks.Count ? (long)(uint)value : chunks[i].Data.Length);
                }

                return output.ToArray();
            })));

    public override Gen<FuzzCase> Cases { get; } =
        Gen.Select(SpecGen, Gen.Int[0, 9], Mutations.Bytes, ChunkDamage, LengthDamage)
            .Select((spec, mode, bytes, chunk, length) =>
            {
                byte[] png = Encode(spec);
                return mode switch
                {
                    0 => new FuzzCase([new FuzzFile(FileName, png)], FileName, "none", Expect(spec)),
                    <= 3 => new FuzzCase([new FuzzFile(FileName, bytes.Apply(png))], FileName, bytes.ToString()),
                    <= 8 => new FuzzCase([new FuzzFile(FileName, Assemble(chunk.Edit(Chunks(png))))], FileName, chunk.What),
                    _ => new FuzzCase([new FuzzFile(FileName, length.Edit(png))], FileName, length.What),
                };
            });

    private static Func<object, string?> Expect(Spec spec) => value =>
    {
        var image = (IndexedImage)value;
        if (image.Width != spec.Width || image.Height != spec.Height || image.BitDepth != spec.BitDepth || image.IsGrayscale != spec.Grayscale)
        {
            return $"{image.Width}x{image.Height} depth {image.BitDepth} gray {image.IsGrayscale}, expected {spec.Width}x{spec.Height} depth {spec.BitDepth} gray {spec.Grayscale}";
        }

        int first = Enumerable.Range(0, spec.Samples.Length).FirstOrDefault(i => image.Indices[i] != spec.Samples[i], -1);
        return first < 0 ? null : $"sample {first} is {image.Indices[first]}, expected {spec.Samples[first]}";
    };

    public override (object Value, long Bytes) Read(string directory)
    {
        IndexedImage image = PalettePng.Decode(Path.Combine(directory, FileName));
        return (image, image.Indices.LongLength);
    }

    public override string? Invariant(object value)
    {
        var image = (IndexedImage)value;
        if (image.Indices.LongLength != (long)image.Width * image.Height)
        {
            return $"{image.Indices.LongLength} indices for {image.Width}x{image.Height}";
        }

        int max = (1 << image.BitDepth) - 1;
        return image.Indices.Any(v => v > max) ? $"an index above {max} in a {image.BitDepth}-bit image" : null;
    }
}
