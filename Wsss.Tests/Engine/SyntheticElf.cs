using System.Buffers.Binary;
using System.Text;

namespace Wsss.Tests.Engine;

/// <summary>
/// Builds minimal 64-bit little-endian ELF shared libraries in memory, with just the sections that symbol
/// versioning reads: .dynstr, .dynsym, .gnu.version, .gnu.version_r, .gnu.version_d, .rela.dyn and .shstrtab.
/// Enough for <see cref="Wsss.Compat.ElfFile"/> (and readelf) to see what a real libLibTorchSharp.so or
/// libstdc++.so.6 declares, without shipping binaries in the repository.
/// </summary>
internal sealed class SyntheticElf
{
    private const uint ShtStrtab = 3, ShtRela = 4, ShtDynsym = 11;
    private const uint ShtGnuVerdef = 0x6ffffffd, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;

    private readonly List<(string File, List<(string Version, ushort Flags)> Versions)> needs = new();
    private readonly List<string> defined = new();
    private readonly List<(string Name, ushort Version)> symbols = new();
    private readonly List<int> relocated = new();

    /// <summary>The soname for .gnu.version_d's base entry (a library that defines versions).</summary>
    public string? Soname { get; init; }

    /// <summary>Section headers right after the ELF header instead of at the end (as some linkers place them), so that a truncation cuts section contents rather than the header table.</summary>
    public bool SectionHeadersFirst { get; init; }

    /// <summary>Needs <paramref name="versions"/> from <paramref name="file"/>; returns the version indices given to them (2, 3, ... in call order).</summary>
    public ushort[] Need(string file, params string[] versions) => NeedWithFlags(file, versions.Select(v => (v, (ushort)0)).ToArray());

    public ushort[] NeedWithFlags(string file, params (string Version, ushort Flags)[] versions)
    {
        var indices = new List<ushort>();
        var list = new List<(string, ushort)>();
        foreach (var v in versions)
        {
            list.Add(v);
            indices.Add((ushort)(2 + needs.Sum(n => n.Versions.Count) + list.Count - 1));
        }

        needs.Add((file, list));
        return indices.ToArray();
    }

    /// <summary>Defines a version (.gnu.version_d), after the base entry named by <see cref="Soname"/>.</summary>
    public void Define(params string[] versions) => defined.AddRange(versions);

    /// <summary>A dynamic symbol of version index <paramref name="version"/>; <paramref name="relocate"/> adds a relocation that binds it.</summary>
    public void Symbol(string name, ushort version, bool relocate)
    {
        symbols.Add((name, version));
        if (relocate)
        {
            relocated.Add(symbols.Count); // symbol 0 is the null symbol
        }
    }

    public byte[] Build()
    {
        var dynstr = new StringTable();
        foreach (var (file, versions) in needs)
        {
            dynstr.Add(file);
            versions.ForEach(v => dynstr.Add(v.Version));
        }

        if (Soname is not null)
        {
            dynstr.Add(Soname);
        }

        defined.ForEach(v => dynstr.Add(v));
        symbols.ForEach(s => dynstr.Add(s.Name));

        // .dynsym: the null symbol, then ours (global functions, undefined).
        var dynsym = new byte[24 * (symbols.Count + 1)];
        for (int i = 0; i < symbols.Count; i++)
        {
            var at = dynsym.AsSpan(24 * (i + 1));
            BinaryPrimitives.WriteUInt32LittleEndian(at, dynstr.Offset(symbols[i].Name));
            at[4] = 0x12; // STB_GLOBAL, STT_FUNC
        }

        // .gnu.version: one index per symbol (0 = local for the null symbol).
        var versym = new byte[2 * (symbols.Count + 1)];
        for (int i = 0; i < symbols.Count; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(versym.AsSpan(2 * (i + 1)), symbols[i].Version);
        }

        // .gnu.version_r: Elf64_Verneed (16 bytes) followed by its Elf64_Vernaux entries (16 bytes each).
        var verneed = new List<byte>();
        for (int n = 0; n < needs.Count; n++)
        {
            var (file, versions) = needs[n];
            var entry = new byte[16 + (16 * versions.Count)];
            BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(0), 1);
            BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(2), (ushort)versions.Count);
            BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(4), dynstr.Offset(file));
            BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(8), 16);
            BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(12), n + 1 < needs.Count ? (uint)entry.Length : 0);
            ushort firstIndex = (ushort)(2 + needs.Take(n).Sum(x => x.Versions.Count));
            for (int v = 0; v < versions.Count; v++)
            {
                var aux = entry.AsSpan(16 + (16 * v));
                BinaryPrimitives.WriteUInt32LittleEndian(aux, ElfHash(versions[v].Version));
                BinaryPrimitives.WriteUInt16LittleEndian(aux[4..], versions[v].Flags);
                BinaryPrimitives.WriteUInt16LittleEndian(aux[6..], (ushort)(firstIndex + v));
                BinaryPrimitives.WriteUInt32LittleEndian(aux[8..], dynstr.Offset(versions[v].Version));
                BinaryPrimitives.WriteUInt32LittleEndian(aux[12..], v + 1 < versions.Count ? 16u : 0u);
            }

            verneed.AddRange(entry);
        }

        // .gnu.version_d: Elf64_Verdef (20 bytes) + one Elf64_Verdaux (8 bytes) per version; the first is the base (soname).
        var names = new List<string>();
        if (Soname is not null)
        {
            names.Add(Soname);
        }

        names.AddRange(defined);
        var verdef = new byte[28 * names.Count];
        for (int i = 0; i < names.Count; i++)
        {
            var at = verdef.AsSpan(28 * i);
            BinaryPrimitives.WriteUInt16LittleEndian(at, 1);
            BinaryPrimitives.WriteUInt16LittleEndian(at[2..], (ushort)(i == 0 && Soname is not null ? 1 : 0)); // VER_FLG_BASE
            BinaryPrimitives.WriteUInt16LittleEndian(at[4..], (ushort)(i + 1));
            BinaryPrimitives.WriteUInt16LittleEndian(at[6..], 1);
            BinaryPrimitives.WriteUInt32LittleEndian(at[8..], ElfHash(names[i]));
            BinaryPrimitives.WriteUInt32LittleEndian(at[12..], 20);
            BinaryPrimitives.WriteUInt32LittleEndian(at[16..], i + 1 < names.Count ? 28u : 0u);
            BinaryPrimitives.WriteUInt32LittleEndian(at[20..], dynstr.Offset(names[i]));
        }

        // .rela.dyn: R_X86_64_GLOB_DAT (6) against each relocated symbol.
        var rela = new byte[24 * relocated.Count];
        for (int i = 0; i < relocated.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(rela.AsSpan(24 * i), (ulong)(0x1000 + (8 * i)));
            BinaryPrimitives.WriteUInt64LittleEndian(rela.AsSpan((24 * i) + 8), ((ulong)relocated[i] << 32) | 6);
        }

        var shstrtab = new StringTable();
        string[] sectionNames = [".dynstr", ".dynsym", ".gnu.version", ".gnu.version_r", ".gnu.version_d", ".rela.dyn", ".shstrtab"];
        foreach (string n in sectionNames)
        {
            shstrtab.Add(n);
        }

        // Sections 1..7; link 1 = .dynstr, 2 = .dynsym. sh_info of the version sections counts their entries.
        var contents = new (string Name, uint Type, byte[] Data, uint Link, uint Info, ulong EntrySize)[]
        {
            (".dynstr", ShtStrtab, dynstr.Bytes(), 0, 0, 0),
            (".dynsym", ShtDynsym, dynsym, 1, 1, 24),
            (".gnu.version", ShtGnuVersym, versym, 2, 0, 2),
            (".gnu.version_r", ShtGnuVerneed, verneed.ToArray(), 1, (uint)needs.Count, 0),
            (".gnu.version_d", ShtGnuVerdef, verdef, 1, (uint)names.Count, 0),
            (".rela.dyn", ShtRela, rela, 2, 0, 24),
            (".shstrtab", ShtStrtab, shstrtab.Bytes(), 0, 0, 0),
        };

        int headerTable = 64 * (contents.Length + 1);
        long dataStart = SectionHeadersFirst ? 64 + headerTable : 64;
        var offsets = new long[contents.Length];
        long cursor = dataStart;
        for (int i = 0; i < contents.Length; i++)
        {
            cursor = (cursor + 7) & ~7L;
            offsets[i] = cursor;
            cursor += contents[i].Data.Length;
        }

        long shoff = SectionHeadersFirst ? 64 : (cursor + 7) & ~7L;
        var image = new byte[SectionHeadersFirst ? cursor : shoff + headerTable];
        // ELF header: magic, class 64, little-endian, version 1; ET_DYN, EM_X86_64.
        image[0] = 0x7f;
        image[1] = (byte)'E';
        image[2] = (byte)'L';
        image[3] = (byte)'F';
        image[4] = 2;
        image[5] = 1;
        image[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x10), 3);
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x12), 62);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x14), 1);
        BinaryPrimitives.WriteInt64LittleEndian(image.AsSpan(0x28), shoff);
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x34), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x3A), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x3C), (ushort)(contents.Length + 1));
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x3E), (ushort)contents.Length);
        for (int i = 0; i < contents.Length; i++)
        {
            var c = contents[i];
            c.Data.CopyTo(image, offsets[i]);
            var sh = image.AsSpan((int)(shoff + (64 * (i + 1))), 64);
            BinaryPrimitives.WriteUInt32LittleEndian(sh, shstrtab.Offset(c.Name));
            BinaryPrimitives.WriteUInt32LittleEndian(sh[4..], c.Type);
            BinaryPrimitives.WriteInt64LittleEndian(sh[0x18..], offsets[i]);
            BinaryPrimitives.WriteInt64LittleEndian(sh[0x20..], c.Data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[0x28..], c.Link);
            BinaryPrimitives.WriteUInt32LittleEndian(sh[0x2C..], c.Info);
            BinaryPrimitives.WriteUInt64LittleEndian(sh[0x30..], 8);
            BinaryPrimitives.WriteUInt64LittleEndian(sh[0x38..], c.EntrySize);
        }

        return image;
    }

    /// <summary>
    /// A TorchSharp-like native library: needs GLIBCXX_3.4.30 (relocated) and GLIBCXX_3.4.32 from libstdc++ (only
    /// std::ios_base_library_init(), relocated when <paramref name="relocate32"/>), and GLIBC_2.2.5 from libc (relocated).
    /// </summary>
    public static byte[] LibTorchSharpLike(bool relocate32 = false, bool weak32 = false, bool headersFirst = false)
    {
        var elf = new SyntheticElf { SectionHeadersFirst = headersFirst };
        ushort[] cxx = elf.NeedWithFlags(LibStdCxxSoname, ("GLIBCXX_3.4.30", 0), ("GLIBCXX_3.4.32", weak32 ? Wsss.Compat.ElfFile.VerFlagWeak : (ushort)0));
        ushort[] libc = elf.Need("libc.so.6", "GLIBC_2.2.5");
        elf.Symbol("_ZNSt8ios_base4InitC1Ev", cxx[0], relocate: true);
        elf.Symbol(IosBaseLibraryInit, cxx[1], relocate: relocate32);
        elf.Symbol("malloc", libc[0], relocate: true);
        return elf.Build();
    }

    /// <summary>A libstdc++.so.6 defining GLIBCXX_3.4 .. GLIBCXX_3.4.30, and 3.4.31-32 when <paramref name="gcc13"/>.</summary>
    public static byte[] LibStdCxx(bool gcc13)
    {
        var elf = new SyntheticElf { Soname = LibStdCxxSoname };
        elf.Define("GLIBCXX_3.4");
        elf.Define(Enumerable.Range(1, gcc13 ? 32 : 30).Select(i => $"GLIBCXX_3.4.{i}").ToArray());
        elf.Define("CXXABI_1.3");
        return elf.Build();
    }

    public const string LibStdCxxSoname = "libstdc++.so.6";

    /// <summary>The mangled std::ios_base_library_init(), TorchSharp's only GLIBCXX_3.4.32 symbol.</summary>
    public const string IosBaseLibraryInit = "_ZSt21ios_base_library_initv";

    /// <summary>The System V ELF hash (vna_hash / vd_hash); the loader compares it with the name.</summary>
    private static uint ElfHash(string name)
    {
        uint h = 0;
        foreach (byte b in Encoding.ASCII.GetBytes(name))
        {
            h = (h << 4) + b;
            uint g = h & 0xf0000000;
            if (g != 0)
            {
                h ^= g >> 24;
            }

            h &= ~g;
        }

        return h;
    }

    private sealed class StringTable
    {
        private readonly List<byte> bytes = [0];
        private readonly Dictionary<string, uint> offsets = new(StringComparer.Ordinal) { [""] = 0 };

        public void Add(string s)
        {
            if (!offsets.ContainsKey(s))
            {
                offsets[s] = (uint)bytes.Count;
                bytes.AddRange(Encoding.UTF8.GetBytes(s));
                bytes.Add(0);
            }
        }

        public uint Offset(string s) => offsets[s];

        public byte[] Bytes() => bytes.ToArray();
    }
}
