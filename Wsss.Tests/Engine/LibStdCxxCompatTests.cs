using System.Runtime.InteropServices;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Compat;
using Wsss.Engine;

namespace Wsss.Tests.Engine;

/// <summary>
/// The old-libstdc++ step (Wsss/Compat/LibStdCxxCompat.cs, shared by the build task and the run-time check) on
/// synthetic ELF files built here: what it decides, what it writes, and how it fails on damaged files.
/// </summary>
[TestClass]
public sealed class LibStdCxxCompatTests
{
    private const string Missing = "GLIBCXX_3.4.32";

    private static HashSet<string> Gcc12Versions() => ElfFile.Parse(SyntheticElf.LibStdCxx(gcc13: false), "libstdc++ (GCC 12)").DefinedVersions();

    private static HashSet<string> Gcc13Versions() => ElfFile.Parse(SyntheticElf.LibStdCxx(gcc13: true), "libstdc++ (GCC 13)").DefinedVersions();

    [TestMethod]
    public void SyntheticFiles_ReadBackAsBuilt()
    {
        // The builder and the reader agree, so the verdict tests below test decisions, not the builder.
        var library = ElfFile.Parse(SyntheticElf.LibTorchSharpLike(), "lib");
        var needs = library.VersionNeeds();
        CollectionAssert.AreEqual(
            new[] { "libstdc++.so.6:GLIBCXX_3.4.30:2", "libstdc++.so.6:GLIBCXX_3.4.32:3", "libc.so.6:GLIBC_2.2.5:4" },
            needs.Select(n => $"{n.File}:{n.Version}:{n.Index}").ToArray());
        Assert.IsTrue(needs.All(n => !n.IsWeak));
        CollectionAssert.AreEqual(new[] { "_ZNSt8ios_base4InitC1Ev" }, library.RelocatedSymbolsOfVersion(2));
        Assert.IsEmpty(library.RelocatedSymbolsOfVersion(3), "std::ios_base_library_init() is only listed, never relocated");
        CollectionAssert.AreEqual(new[] { "malloc" }, library.RelocatedSymbolsOfVersion(4));

        var gcc12 = Gcc12Versions();
        Assert.Contains("GLIBCXX_3.4.30", gcc12);
        Assert.DoesNotContain(Missing, gcc12);
        Assert.Contains("libstdc++.so.6", gcc12, "the base entry names the soname");
        Assert.Contains(Missing, Gcc13Versions());
    }

    [TestMethod]
    public void Analyse_NotNeededWhereLibStdCxxHasTheVersion()
    {
        var report = LibStdCxxCompat.Analyse(ElfFile.Parse(SyntheticElf.LibTorchSharpLike(), "lib"), Gcc13Versions());
        Assert.AreEqual(CompatVerdict.NotNeeded, report.Verdict);
        Assert.IsEmpty(report.Missing);

        // A relocated GLIBCXX_3.4.32 symbol does not matter where libstdc++ defines it.
        Assert.AreEqual(CompatVerdict.NotNeeded, LibStdCxxCompat.Analyse(ElfFile.Parse(SyntheticElf.LibTorchSharpLike(relocate32: true), "lib"), Gcc13Versions()).Verdict);
    }

    [TestMethod]
    public void Analyse_PatchableWhenTheMissingVersionBindsNoRelocation()
    {
        var report = LibStdCxxCompat.Analyse(ElfFile.Parse(SyntheticElf.LibTorchSharpLike(), "lib"), Gcc12Versions());
        Assert.AreEqual(CompatVerdict.Patchable, report.Verdict);
        Assert.AreEqual(Missing, report.MissingNames);
        Assert.IsEmpty(report.BlockingSymbols);
        // Only libstdc++'s requirements count: libc's GLIBC_2.2.5 is not in a libstdc++ version list at all.
        Assert.IsTrue(report.Missing.All(m => m.File == "libstdc++.so.6"));
    }

    [TestMethod]
    public void Analyse_NotPatchableWhenARelocationBindsASymbolOfTheMissingVersion()
    {
        var report = LibStdCxxCompat.Analyse(ElfFile.Parse(SyntheticElf.LibTorchSharpLike(relocate32: true), "lib"), Gcc12Versions());
        Assert.AreEqual(CompatVerdict.NotPatchable, report.Verdict);
        CollectionAssert.AreEqual(new[] { SyntheticElf.IosBaseLibraryInit }, report.BlockingSymbols);
        Assert.AreEqual(Missing, report.MissingNames);
    }

    [TestMethod]
    public void Analyse_AlwaysMode_WeakensEveryUnboundLibStdCxxVersionOnly()
    {
        // Null system versions ("always", for an app built here and run on an older Linux): whatever the building
        // machine has, every libstdc++ version that no relocation binds is weakened; bound ones never are.
        var report = LibStdCxxCompat.Analyse(ElfFile.Parse(SyntheticElf.LibTorchSharpLike(), "lib"), null);
        Assert.AreEqual(CompatVerdict.Patchable, report.Verdict);
        Assert.AreEqual(Missing, report.MissingNames);
        Assert.AreEqual(CompatVerdict.NotNeeded, LibStdCxxCompat.Analyse(ElfFile.Parse(SyntheticElf.LibTorchSharpLike(relocate32: true), "lib"), null).Verdict);
        Assert.AreEqual(CompatVerdict.AlreadyPatched, LibStdCxxCompat.Analyse(ElfFile.Parse(SyntheticElf.LibTorchSharpLike(weak32: true), "lib"), null).Verdict);
    }

    [TestMethod]
    public void Patch_MarksTheVersionWeak_ReplacingTheFileSoAHardLinkKeepsTheOriginal()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("hard links are made with libc's link(2) here; the patch itself only matters on Linux");
        }

        using var dir = TestData.NewTempDirectory();
        byte[] original = SyntheticElf.LibTorchSharpLike();
        string cache = dir.File("cache-libLibTorchSharp.so");
        string app = dir.File("libLibTorchSharp.so");
        File.WriteAllBytes(cache, original);
        // The app's copy as NuGet or a hard-linking build step may leave it: the same inode as the package cache's file.
        Assert.AreEqual(0, link(cache, app), $"link(2) failed: errno {Marshal.GetLastPInvokeError()}");
        Assert.AreEqual(Inode(cache), Inode(app));

        var library = ElfFile.Read(app);
        var report = LibStdCxxCompat.Analyse(library, Gcc12Versions());
        Assert.AreEqual(CompatVerdict.Patchable, report.Verdict);
        LibStdCxxCompat.Patch(app, library, report);

        CollectionAssert.AreEqual(original, File.ReadAllBytes(cache), "the other link (the NuGet cache) keeps the original bytes");
        Assert.AreNotEqual(Inode(cache), Inode(app), "the app's copy is a new file, not the shared inode written in place");
        CollectionAssert.AreEquivalent(new[] { cache, app }, Directory.GetFiles(dir.Path), "no temporary file is left beside it");

        byte[] patched = File.ReadAllBytes(app);
        Assert.AreEqual(original.Length, patched.Length);
        int[] changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToArray();
        var need = report.Missing.Single();
        CollectionAssert.AreEqual(new[] { (int)need.FlagsOffset }, changed, "only the low byte of that requirement's vna_flags changes");
        Assert.AreEqual(ElfFile.VerFlagWeak, patched[need.FlagsOffset]);

        var reread = ElfFile.Read(app);
        Assert.AreEqual(CompatVerdict.AlreadyPatched, LibStdCxxCompat.Analyse(reread, Gcc12Versions()).Verdict);
        var needs = reread.VersionNeeds();
        Assert.IsTrue(needs.Single(n => n.Version == Missing).IsWeak);
        Assert.IsTrue(needs.Where(n => n.Version != Missing).All(n => !n.IsWeak), "other requirements stay strong");
        Assert.AreEqual(CompatVerdict.Patchable, LibStdCxxCompat.Analyse(ElfFile.Read(cache), Gcc12Versions()).Verdict);
    }

    [TestMethod]
    public void Patch_OfAFileNotThereYet_WritesIt()
    {
        // The patch writes the bytes it was given: a missing destination (a deleted copy) is created, not an error.
        using var dir = TestData.NewTempDirectory();
        string app = dir.File("libLibTorchSharp.so");
        var library = ElfFile.Parse(SyntheticElf.LibTorchSharpLike(), app);
        LibStdCxxCompat.Patch(app, library, LibStdCxxCompat.Analyse(library, Gcc12Versions()));
        Assert.AreEqual(CompatVerdict.AlreadyPatched, LibStdCxxCompat.Analyse(ElfFile.Read(app), Gcc12Versions()).Verdict);
        Assert.HasCount(1, Directory.GetFiles(dir.Path));
    }

    [TestMethod]
    public void GarbageAndTruncatedFiles_RaiseInvalidDataExceptionNamingTheFile()
    {
        using var dir = TestData.NewTempDirectory();
        string text = dir.File("not-elf.so");
        File.WriteAllText(text, "INPUT(libfoo.so.1)\n"); // a linker script, as some lib*.so files are
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ElfFile.Read(text));
        StringAssert.Contains(e.Message, text);

        byte[] elf32 = SyntheticElf.LibTorchSharpLike();
        elf32[4] = 1;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ElfFile.Parse(elf32, "elf32.so")).Message, "elf32.so");

        foreach (bool headersFirst in new[] { false, true })
        {
            byte[] whole = SyntheticElf.LibTorchSharpLike(headersFirst: headersFirst);
            for (int length = 0; length < whole.Length; length++)
            {
                string name = $"truncated-{length}.so";
                var ex = Assert.ThrowsExactly<InvalidDataException>(() => ReadEverything(whole[..length], name), $"{name} (headers first: {headersFirst})");
                StringAssert.Contains(ex.Message, name);
            }
        }
    }

    [TestMethod]
    public void CorruptedTables_RaiseInvalidDataExceptionOrReadSomething_NeverAnotherException()
    {
        // Random damage to the header, the section table and the version tables: each file either reads (a changed
        // byte can be harmless) or fails with InvalidDataException naming the file, never with an index or argument
        // exception from inside the reader. Deterministic seed; both layouts.
        var rng = new Random(12345);
        int failures = 0, reads = 0;
        foreach (bool headersFirst in new[] { false, true })
        {
            byte[] whole = SyntheticElf.LibTorchSharpLike(headersFirst: headersFirst);
            for (int trial = 0; trial < 3000; trial++)
            {
                byte[] damaged = (byte[])whole.Clone();
                int flips = 1 + rng.Next(4);
                for (int f = 0; f < flips; f++)
                {
                    damaged[rng.Next(damaged.Length)] = (byte)(rng.Next(4) == 0 ? 0xff : rng.Next(256));
                }

                string name = $"damaged-{headersFirst}-{trial}.so";
                try
                {
                    ReadEverything(damaged, name);
                    reads++;
                }
                catch (InvalidDataException e)
                {
                    StringAssert.Contains(e.Message, name);
                    failures++;
                }
            }
        }

        Assert.IsTrue(failures > 100 && reads > 100, $"the damage should both break and spare files ({failures} failed, {reads} read)");
    }

    [TestMethod]
    public void CraftedOffsets_NearTheEndOfTheAddressRange_RaiseInvalidDataException()
    {
        // Offsets that overflow when a length is added must not slip past the bounds checks.
        byte[] whole = SyntheticElf.LibTorchSharpLike();
        foreach (long offset in new[] { long.MaxValue, long.MaxValue - 3, long.MaxValue - 64, long.MinValue, -1 })
        {
            byte[] header = (byte[])whole.Clone();
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(0x28), offset);
            Assert.ThrowsExactly<InvalidDataException>(() => ReadEverything(header, "shoff.so"), $"e_shoff {offset}");

            // sh_offset of .gnu.version_r (section 4) and of .dynstr (section 1, the string table the others link to)
            long shoff = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(whole.AsSpan(0x28));
            foreach (int section in new[] { 1, 4 })
            {
                byte[] damaged = (byte[])whole.Clone();
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(damaged.AsSpan((int)shoff + (64 * section) + 0x18), offset);
                Assert.ThrowsExactly<InvalidDataException>(() => ReadEverything(damaged, "section.so"), $"section {section} at {offset}");
            }
        }

        // A string table that is SHT_NOBITS (no file content) with a size beyond the file.
        long sh = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(whole.AsSpan(0x28));
        byte[] nobits = (byte[])whole.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(nobits.AsSpan((int)sh + 64 + 4), 8);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(nobits.AsSpan((int)sh + 64 + 0x20), 1L << 40);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ReadEverything(nobits, "nobits.so")).Message, "nobits.so");
    }

    [TestMethod]
    public void SystemLibStdCxx_DefinesGcc12sVersions()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("libstdc++.so.6 is a Linux library");
        }

        string? libstdcxx = LibStdCxxCompat.FindLoadedLibStdCxx();
        if (libstdcxx is null)
        {
            Assert.Inconclusive("no libstdc++.so.6 in this process or the usual library folders");
        }

        var versions = ElfFile.Read(libstdcxx).DefinedVersions();
        // GCC 12 (Debian 12, the oldest libstdc++ this project supports) defines up to 3.4.30; a newer one more.
        Assert.Contains("GLIBCXX_3.4.30", versions, $"{libstdcxx}: {string.Join(", ", versions.Order())}");
        Assert.Contains("CXXABI_1.3", versions);
    }

    [TestMethod]
    public void LibTorchSharpCheck_ExplainsAnUnpatchedCopy_AndStaysQuietOtherwise()
    {
        using var dir = TestData.NewTempDirectory();
        string Write(string name, byte[] bytes)
        {
            string path = dir.File(name);
            File.WriteAllBytes(path, bytes);
            return path;
        }

        string gcc12 = Write("gcc12-libstdc++.so.6", SyntheticElf.LibStdCxx(gcc13: false));
        string gcc13 = Write("gcc13-libstdc++.so.6", SyntheticElf.LibStdCxx(gcc13: true));
        string unpatched = Write("unpatched-libLibTorchSharp.so", SyntheticElf.LibTorchSharpLike());
        string blocked = Write("blocked-libLibTorchSharp.so", SyntheticElf.LibTorchSharpLike(relocate32: true));
        string patched = Write("patched-libLibTorchSharp.so", SyntheticElf.LibTorchSharpLike(weak32: true));

        var e = Assert.ThrowsExactly<InvalidOperationException>(() => LibTorchSharpCheck.ThrowIfItCannotLoad(unpatched, gcc12));
        foreach (string part in new[] { unpatched, gcc12, Missing, "WsssLibTorchSharpCompat=always", "GCC 13", "older libstdc++" })
        {
            StringAssert.Contains(e.Message, part);
        }

        e = Assert.ThrowsExactly<InvalidOperationException>(() => LibTorchSharpCheck.ThrowIfItCannotLoad(blocked, gcc12));
        foreach (string part in new[] { blocked, gcc12, Missing, SyntheticElf.IosBaseLibraryInit, "GCC 13" })
        {
            StringAssert.Contains(e.Message, part);
        }

        Assert.DoesNotContain("WsssLibTorchSharpCompat", e.Message, "no patch can help a relocated symbol: the message must not suggest one");

        // Loadable, or nothing to compare: TorchSharp's own loader has the last word.
        LibTorchSharpCheck.ThrowIfItCannotLoad(patched, gcc12);
        LibTorchSharpCheck.ThrowIfItCannotLoad(unpatched, gcc13);
        LibTorchSharpCheck.ThrowIfItCannotLoad(blocked, gcc13);
        LibTorchSharpCheck.ThrowIfItCannotLoad(null, gcc12);
        LibTorchSharpCheck.ThrowIfItCannotLoad(unpatched, null);
        LibTorchSharpCheck.ThrowIfItCannotLoad(Write("garbage.so", [1, 2, 3]), gcc12);
        LibTorchSharpCheck.ThrowIfItCannotLoad(dir.File("absent.so"), gcc12);
    }

    /// <summary>Everything the build task and the check read from a file.</summary>
    private static void ReadEverything(byte[] bytes, string name)
    {
        var elf = ElfFile.Parse(bytes, name);
        _ = elf.DefinedVersions();
        foreach (var need in elf.VersionNeeds())
        {
            _ = elf.RelocatedSymbolsOfVersion(need.Index);
        }

        _ = LibStdCxxCompat.Analyse(elf, Gcc12Versions());
    }

    private static ulong Inode(string path)
    {
        // stat(1) is everywhere this runs (Linux); the inode is what tells a new file from one written in place.
        var info = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(info)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return ulong.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int link(string existing, string newPath);
}
