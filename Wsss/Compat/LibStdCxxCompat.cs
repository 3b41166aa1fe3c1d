// Old-libstdc++ compatibility for TorchSharp's native library (see README, "Linux with an older libstdc++").
//
// This one file is compiled twice: into Wsss (WSSS_LIBRARY defined: the run-time check) and, by MSBuild's
// RoslynCodeTaskFactory, into the build task that the Wsss package's buildTransitive targets run after a
// build or publish. The task factory compiles against netstandard, so the code sticks to APIs and syntax
// that exist there (no spans, no newer BCL helpers).
//
// Why a patch works: libLibTorchSharp.so (TorchSharp 0.107, built with GCC 13+) requires the version
// GLIBCXX_3.4.32 for a single symbol, std::ios_base_library_init(). GCC 13's <iostream> emits only a
// `.globl` reference to that symbol so that the linker pulls libstdc++'s stream initialiser in; nothing
// relocates against it, so the dynamic loader never looks it up. It still refuses the library because the
// version requirement is listed in .gnu.version_r and GCC 12's libstdc++ (Debian 12, Ubuntu 22.04, RHEL 9)
// does not define it. Marking that requirement VER_FLG_WEAK makes glibc's loader accept its absence. The
// standard streams are initialised all the same: libtorch_cpu.so and libc10.so, which libLibTorchSharp.so
// depends on and which the loader initialises first, were built with older GCCs whose <iostream> runs
// std::ios_base::Init in their static constructors. A version is only weakened when no relocation binds a
// symbol of it, so the patch can never turn a load failure into a crash at a missing function.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;

namespace Wsss.Compat
{
    /// <summary>One entry of an ELF file's version-needs table (.gnu.version_r).</summary>
    internal sealed class ElfVersionNeed
    {
        public ElfVersionNeed(string file, string version, ushort index, ushort flags, long flagsOffset)
        {
            File = file;
            Version = version;
            Index = index;
            Flags = flags;
            FlagsOffset = flagsOffset;
        }

        /// <summary>The library the version is needed from (vn_file, e.g. libstdc++.so.6).</summary>
        public string File { get; }

        /// <summary>The version name (vna_name, e.g. GLIBCXX_3.4.32).</summary>
        public string Version { get; }

        /// <summary>The version index symbols refer to through .gnu.version (vna_other).</summary>
        public ushort Index { get; }

        /// <summary>vna_flags.</summary>
        public ushort Flags { get; }

        /// <summary>File offset of vna_flags.</summary>
        public long FlagsOffset { get; }

        /// <summary>Whether the requirement is already weak (VER_FLG_WEAK).</summary>
        public bool IsWeak => (Flags & ElfFile.VerFlagWeak) != 0;
    }

    /// <summary>
    /// The parts of a 64-bit little-endian ELF shared library that symbol versioning needs: defined versions
    /// (.gnu.version_d), needed versions (.gnu.version_r), and which dynamic symbols relocations bind.
    /// </summary>
    internal sealed class ElfFile
    {
        public const ushort VerFlagWeak = 0x2;
        private const uint ShtRela = 4;
        private const uint ShtNobits = 8;
        private const uint ShtRel = 9;
        private const uint ShtDynsym = 11;
        private const uint ShtGnuVerdef = 0x6ffffffd;
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const uint ShtGnuVersym = 0x6fffffff;

        private readonly byte[] data;
        private readonly List<Section> sections = new List<Section>();

        private ElfFile(byte[] data, string name)
        {
            this.data = data;
            Name = name;
            if (data.Length < 64 || data[0] != 0x7f || data[1] != (byte)'E' || data[2] != (byte)'L' || data[3] != (byte)'F')
            {
                throw new InvalidDataException(name + ": not an ELF file");
            }

            if (data[4] != 2 || data[5] != 1)
            {
                throw new InvalidDataException(name + ": only 64-bit little-endian ELF files are supported");
            }

            long sectionOffset = I64(0x28);
            int entrySize = U16(0x3A);
            int count = U16(0x3C);
            // Bounds are compared as "offset > length - size" throughout: an offset near long.MaxValue in a damaged
            // file would overflow "offset + size" into a negative number that passes the check.
            if (sectionOffset <= 0 || entrySize < 64 || count == 0 || sectionOffset > data.Length - ((long)entrySize * count))
            {
                throw new InvalidDataException(name + ": no section headers (cannot read its symbol versions)");
            }

            for (int i = 0; i < count; i++)
            {
                long at = sectionOffset + ((long)i * entrySize);
                var s = new Section(U32(at + 4), I64(at + 0x18), I64(at + 0x20), U32(at + 0x28), U32(at + 0x2C), I64(at + 0x38));
                if (s.Type != ShtNobits && (s.Offset < 0 || s.Size < 0 || s.Offset > data.Length - s.Size))
                {
                    // SHT_NOBITS (8) occupies no file space; any other section must lie inside the file.
                    throw new InvalidDataException(name + ": section " + i + " lies outside the file (truncated?)");
                }

                sections.Add(s);
            }
        }

        /// <summary>The name used in messages.</summary>
        public string Name { get; }

        /// <summary>The file's bytes (patches are applied here).</summary>
        public byte[] Bytes => data;

        public static ElfFile Read(string path) => new ElfFile(System.IO.File.ReadAllBytes(path), path);

        public static ElfFile Parse(byte[] bytes, string name) => new ElfFile(bytes, name);

        /// <summary>The version names this library defines (.gnu.version_d), e.g. GLIBCXX_3.4.30.</summary>
        public HashSet<string> DefinedVersions()
        {
            var result = new HashSet<string>(StringComparer.Ordinal);
            foreach (Section s in sections.Where(x => x.Type == ShtGnuVerdef))
            {
                Section strings = StringTable(s);
                long at = s.Offset;
                for (uint i = 0; i < s.Info && at + 20 <= s.Offset + s.Size; i++)
                {
                    int auxCount = U16(at + 6);
                    long aux = at + U32(at + 12);
                    // The first auxiliary entry names the version itself; the others name its parents.
                    if (auxCount > 0 && aux + 8 <= data.Length)
                    {
                        result.Add(CString(strings, U32(aux)));
                    }

                    uint next = U32(at + 16);
                    if (next == 0)
                    {
                        break;
                    }

                    at += next;
                }
            }

            return result;
        }

        /// <summary>Every needed version (.gnu.version_r), in table order.</summary>
        public List<ElfVersionNeed> VersionNeeds()
        {
            var result = new List<ElfVersionNeed>();
            foreach (Section s in sections.Where(x => x.Type == ShtGnuVerneed))
            {
                Section strings = StringTable(s);
                long at = s.Offset;
                for (uint i = 0; i < s.Info && at + 16 <= s.Offset + s.Size; i++)
                {
                    int auxCount = U16(at + 2);
                    string file = CString(strings, U32(at + 4));
                    long aux = at + U32(at + 8);
                    for (int j = 0; j < auxCount && aux + 16 <= s.Offset + s.Size; j++)
                    {
                        result.Add(new ElfVersionNeed(file, CString(strings, U32(aux + 8)), (ushort)U16(aux + 6), (ushort)U16(aux + 4), aux + 4));
                        uint nextAux = U32(aux + 12);
                        if (nextAux == 0)
                        {
                            break;
                        }

                        aux += nextAux;
                    }

                    uint next = U32(at + 12);
                    if (next == 0)
                    {
                        break;
                    }

                    at += next;
                }
            }

            return result;
        }

        /// <summary>
        /// The dynamic symbols of version index <paramref name="versionIndex"/> that a relocation binds (by name);
        /// empty when the version is only listed, never used for a lookup.
        /// </summary>
        public List<string> RelocatedSymbolsOfVersion(ushort versionIndex)
        {
            Section? dynsym = sections.FirstOrDefault(s => s.Type == ShtDynsym);
            Section? versym = sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
            var result = new List<string>();
            if (dynsym is null || versym is null)
            {
                return result;
            }

            int dynsymIndex = sections.IndexOf(dynsym);
            long symbolCount = dynsym.Size / 24;
            var ofVersion = new HashSet<long>();
            for (long i = 0; i < symbolCount && versym.Offset + (2 * i) + 2 <= data.Length; i++)
            {
                // Bit 15 marks a hidden symbol; the index is the low 15 bits.
                if ((U16(versym.Offset + (2 * i)) & 0x7fff) == versionIndex)
                {
                    ofVersion.Add(i);
                }
            }

            Section strings = StringTable(dynsym);
            foreach (Section s in sections.Where(x => (x.Type == ShtRela || x.Type == ShtRel) && x.Link == dynsymIndex))
            {
                long entry = s.Type == ShtRela ? 24 : 16;
                for (long at = s.Offset; at + entry <= s.Offset + s.Size; at += entry)
                {
                    long symbol = (long)((ulong)I64(at + 8) >> 32);
                    if (symbol != 0 && ofVersion.Contains(symbol))
                    {
                        string name = CString(strings, U32(dynsym.Offset + (symbol * 24)));
                        if (!result.Contains(name))
                        {
                            result.Add(name);
                        }
                    }
                }
            }

            return result;
        }

        /// <summary>Sets VER_FLG_WEAK on a needed version, in <see cref="Bytes"/>.</summary>
        public void MarkWeak(ElfVersionNeed need)
        {
            ushort flags = (ushort)(U16(need.FlagsOffset) | VerFlagWeak);
            data[need.FlagsOffset] = (byte)(flags & 0xff);
            data[need.FlagsOffset + 1] = (byte)(flags >> 8);
        }

        private Section StringTable(Section s)
        {
            // A linked section without file content (SHT_NOBITS, whose bounds the constructor does not check) is no
            // string table either.
            if (s.Link >= sections.Count || sections[(int)s.Link].Type == ShtNobits)
            {
                throw new InvalidDataException(Name + ": a version section links to no string table");
            }

            return sections[(int)s.Link];
        }

        private string CString(Section strings, uint offset)
        {
            long start = strings.Offset + offset;
            if (offset >= strings.Size || start >= data.Length)
            {
                throw new InvalidDataException(Name + ": a name points outside its string table");
            }

            long end = start;
            while (end < strings.Offset + strings.Size && data[end] != 0)
            {
                end++;
            }

            return Encoding.UTF8.GetString(data, (int)start, (int)(end - start));
        }

        private int U16(long at) => Check(at, 2) ? data[at] | (data[at + 1] << 8) : 0;

        private uint U32(long at) => Check(at, 4) ? BitConverter.ToUInt32(data, (int)at) : 0;

        private long I64(long at) => Check(at, 8) ? BitConverter.ToInt64(data, (int)at) : 0;

        private bool Check(long at, int length)
        {
            if (at < 0 || at > data.Length - length)
            {
                throw new InvalidDataException(Name + ": a table entry lies outside the file (truncated?)");
            }

            return true;
        }

        private sealed class Section
        {
            public Section(uint type, long offset, long size, uint link, uint info, long entrySize)
            {
                Type = type;
                Offset = offset;
                Size = size;
                Link = link;
                Info = info;
                EntrySize = entrySize;
            }

            public uint Type { get; }

            public long Offset { get; }

            public long Size { get; }

            public uint Link { get; }

            public uint Info { get; }

            public long EntrySize { get; }
        }
    }

    /// <summary>What <see cref="LibStdCxxCompat.Analyse"/> found for one library.</summary>
    internal enum CompatVerdict
    {
        /// <summary>The system's libstdc++ defines every version the library needs from it.</summary>
        NotNeeded,

        /// <summary>Versions are missing, but every one of them is already weak: the library loads as it is.</summary>
        AlreadyPatched,

        /// <summary>Versions are missing and none is bound by a relocation: weakening them makes the library load.</summary>
        Patchable,

        /// <summary>A missing version is bound by a relocation: only a newer libstdc++ helps.</summary>
        NotPatchable,
    }

    /// <summary>The analysis of one library against one libstdc++.</summary>
    internal sealed class CompatReport
    {
        public CompatReport(CompatVerdict verdict, List<ElfVersionNeed> missing, List<string> blockingSymbols)
        {
            Verdict = verdict;
            Missing = missing;
            BlockingSymbols = blockingSymbols;
        }

        public CompatVerdict Verdict { get; }

        /// <summary>The needed libstdc++ versions the system does not define.</summary>
        public List<ElfVersionNeed> Missing { get; }

        /// <summary>For <see cref="CompatVerdict.NotPatchable"/>: the relocated symbols of the missing versions.</summary>
        public List<string> BlockingSymbols { get; }

        public string MissingNames => string.Join(", ", Missing.Select(m => m.Version).Distinct().ToArray());
    }

    /// <summary>Decides, and applies, the weak-version patch of TorchSharp's native library.</summary>
    internal static class LibStdCxxCompat
    {
        /// <summary>The file name of TorchSharp's native library on Linux.</summary>
        public const string LibTorchSharpFileName = "libLibTorchSharp.so";

        /// <summary>The libstdc++ soname.</summary>
        public const string LibStdCxxSoname = "libstdc++.so.6";

        /// <summary>
        /// Compares what <paramref name="library"/> needs from libstdc++ with what <paramref name="systemVersions"/>
        /// defines. With null system versions (the build's "always" mode, for an app built on one machine and run on
        /// another), every libstdc++ version that no relocation binds counts as missing: weakening those changes
        /// nothing where libstdc++ is new enough and makes the library load where it is not.
        /// </summary>
        public static CompatReport Analyse(ElfFile library, ICollection<string>? systemVersions)
        {
            var needs = library.VersionNeeds().Where(n => n.File == LibStdCxxSoname).ToList();
            var missing = new List<ElfVersionNeed>();
            var blocking = new List<string>();
            foreach (ElfVersionNeed need in needs)
            {
                List<string> relocated = library.RelocatedSymbolsOfVersion(need.Index);
                if (systemVersions is null)
                {
                    if (relocated.Count == 0)
                    {
                        missing.Add(need);
                    }
                }
                else if (!systemVersions.Contains(need.Version))
                {
                    missing.Add(need);
                    blocking.AddRange(relocated);
                }
            }

            if (missing.Count == 0)
            {
                return new CompatReport(CompatVerdict.NotNeeded, missing, blocking);
            }

            if (blocking.Count > 0)
            {
                return new CompatReport(CompatVerdict.NotPatchable, missing, blocking);
            }

            return new CompatReport(missing.All(m => m.IsWeak) ? CompatVerdict.AlreadyPatched : CompatVerdict.Patchable, missing, blocking);
        }

        /// <summary>
        /// Weakens the missing versions of the file at <paramref name="path"/>, writing a temporary file beside it
        /// and renaming it over the original, so a hard link into the NuGet cache is replaced, never modified,
        /// and an interrupted patch never leaves a half-written library.
        /// </summary>
        public static void Patch(string path, ElfFile library, CompatReport report)
        {
            foreach (ElfVersionNeed need in report.Missing)
            {
                library.MarkWeak(need);
            }

            string temporary = path + ".wsss-" + Guid.NewGuid().ToString("N") + ".tmp";
            try
            {
                System.IO.File.WriteAllBytes(temporary, library.Bytes);
                if (System.IO.File.Exists(path))
                {
                    // rename(2) over the original on Unix: atomic, so the path never lacks a library (deleting first
                    // left a moment without one, and no library at all if the move then failed).
                    System.IO.File.Replace(temporary, path, null);
                }
                else
                {
                    System.IO.File.Move(temporary, path);
                }
            }
            finally
            {
                if (System.IO.File.Exists(temporary))
                {
                    System.IO.File.Delete(temporary);
                }
            }
        }

        /// <summary>
        /// The libstdc++ this process runs with (from /proc/self/maps: the .NET host links it, so it is the one
        /// the loader will give TorchSharp too), else the first found in the usual library folders; null if none.
        /// </summary>
        public static string? FindLoadedLibStdCxx()
        {
            try
            {
                foreach (string line in System.IO.File.ReadLines("/proc/self/maps"))
                {
                    int slash = line.IndexOf('/');
                    if (slash >= 0 && line.EndsWith("/" + LibStdCxxSoname, StringComparison.Ordinal))
                    {
                        return line.Substring(slash);
                    }
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }

            string[] folders =
            {
                "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                "/usr/lib64", "/lib64", "/usr/lib", "/lib",
            };
            foreach (string folder in folders)
            {
                string candidate = Path.Combine(folder, LibStdCxxSoname);
                if (System.IO.File.Exists(candidate))
                {
                    return candidate;
                }
            }

            return null;
        }
    }

#if !WSSS_LIBRARY
    /// <summary>
    /// MSBuild task of the Wsss package: patches the copies of libLibTorchSharp.so in an app's output or publish
    /// folder when this machine's libstdc++ lacks a version they need (Mode "auto"), always ("always"), or never
    /// ("off", handled by the targets). The NuGet cache is never touched.
    /// </summary>
    public sealed class WsssPatchLibTorchSharp : Microsoft.Build.Utilities.Task
    {
        /// <summary>The libLibTorchSharp.so copies to check.</summary>
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        /// <summary>auto (default) or always.</summary>
        public string Mode { get; set; } = "auto";

        /// <inheritdoc/>
        public override bool Execute()
        {
            bool always = string.Equals(Mode, "always", StringComparison.OrdinalIgnoreCase);
            ICollection<string>? system = null;
            if (!always)
            {
                string? libstdcxx = LibStdCxxCompat.FindLoadedLibStdCxx();
                if (libstdcxx is null)
                {
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "Wsss: no libstdc++.so.6 found on this machine; libLibTorchSharp.so left as it is.");
                    return true;
                }

                system = ElfFile.Read(libstdcxx).DefinedVersions();
            }

            foreach (Microsoft.Build.Framework.ITaskItem item in Files)
            {
                string path = item.ItemSpec;
                if (!System.IO.File.Exists(path))
                {
                    continue;
                }

                ElfFile library = ElfFile.Read(path);
                CompatReport report = LibStdCxxCompat.Analyse(library, system);
                switch (report.Verdict)
                {
                    case CompatVerdict.NotNeeded:
                    case CompatVerdict.AlreadyPatched:
                        Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "Wsss: " + path + ": " + report.Verdict);
                        break;
                    case CompatVerdict.Patchable:
                        LibStdCxxCompat.Patch(path, library, report);
                        Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal,
                            "Wsss: marked " + report.MissingNames + " weak in " + path + " (this machine's libstdc++ lacks it; see the Wsss README, 'older libstdc++')");
                        break;
                    default:
                        Log.LogWarning("Wsss: " + path + " needs " + report.MissingNames + " from libstdc++ for " +
                            string.Join(", ", report.BlockingSymbols.ToArray()) + "; this machine's libstdc++ lacks it and no patch can help: install a newer libstdc++ (GCC 13 or later).");
                        break;
                }
            }

            return !Log.HasLoggedErrors;
        }
    }
#endif
}
