using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Imaging;

namespace Wsss.Tests.Seeds;

/// <summary>Locates the CRF fixtures (shared data beside the repository) and reads .npy files.</summary>
internal static partial class SeedFixtures
{
    /// <summary>
    /// The fixture folder, or the test is marked inconclusive. The shared data lives in ../shared/data
    /// beside the repository; a git worktree nested one level deeper finds it one more level up.
    /// </summary>
    public static string CrfDir()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Wsss.MLNet.sln")))
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            Assert.Inconclusive("Wsss.MLNet.sln not found above the test binaries, so the shared data cannot be located.");
        }

        var tried = new List<string>();
        for (DirectoryInfo? up = dir!.Parent; up is not null && tried.Count < 2; up = up.Parent)
        {
            string candidate = Path.Combine(up.FullName, "shared", "data", "fixtures", "crf");
            tried.Add(candidate);
            if (File.Exists(Path.Combine(candidate, "crf_Q_K3_321x321_f32.npy")))
            {
                return candidate;
            }
        }

        Assert.Inconclusive($"CRF fixtures not available (looked in {string.Join(", ", tried)}).");
        return string.Empty;
    }

    public static (float[] Data, int[] Shape) ReadFloat32(string path)
    {
        var (descr, shape, payload) = Read(path);
        Assert.AreEqual("<f4", descr, $"{path} is not little-endian float32");
        var data = new float[payload.Length / 4];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = BinaryPrimitives.ReadSingleLittleEndian(payload.AsSpan(i * 4));
        }

        return (data, shape);
    }

    public static (byte[] Data, int[] Shape) ReadUInt8(string path)
    {
        var (descr, shape, payload) = Read(path);
        Assert.AreEqual("|u1", descr, $"{path} is not uint8");
        return (payload, shape);
    }

    public static (long[] Data, int[] Shape) ReadInt64(string path)
    {
        var (descr, shape, payload) = Read(path);
        Assert.AreEqual("<i8", descr, $"{path} is not little-endian int64");
        var data = new long[payload.Length / 8];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = BinaryPrimitives.ReadInt64LittleEndian(payload.AsSpan(i * 8));
        }

        return (data, shape);
    }

    public static RgbImage ReadImage(string path)
    {
        var (data, shape) = ReadUInt8(path);
        Assert.HasCount(3, shape);
        Assert.AreEqual(3, shape[2]);
        return new RgbImage(shape[0], shape[1], data);
    }

    /// <summary>NumPy format 1.0/2.0: magic, version, header length, a Python dict literal, raw C-order data.</summary>
    private static (string Descr, int[] Shape, byte[] Payload) Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
        {
            throw new InvalidDataException($"{path} is not a .npy file.");
        }

        int major = bytes[6];
        int headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)) : (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        int headerStart = major == 1 ? 10 : 12;
        string header = Encoding.ASCII.GetString(bytes, headerStart, headerLength);
        string descr = DescrPattern().Match(header).Groups[1].Value;
        if (FortranPattern().Match(header).Groups[1].Value != "False")
        {
            throw new InvalidDataException($"{path}: Fortran-order arrays are not supported.");
        }

        int[] shape = ShapePattern().Match(header).Groups[1].Value
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(int.Parse).ToArray();
        byte[] payload = bytes.AsSpan(headerStart + headerLength).ToArray();
        long elementSize = descr[^1] - '0';
        long expected = shape.Aggregate(1L, (a, b) => a * b) * elementSize;
        if (payload.Length != expected)
        {
            throw new InvalidDataException($"{path}: {payload.Length} data bytes, expected {expected}.");
        }

        return (descr, shape, payload);
    }

    [GeneratedRegex(@"'descr':\s*'([^']+)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order':\s*(\w+)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape':\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
