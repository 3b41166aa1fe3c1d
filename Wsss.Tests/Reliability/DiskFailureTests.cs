using System.Diagnostics;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Inference;
using Wsss.Tests.Cli;
using Wsss.Tests.Inference;

namespace Wsss.Tests.Reliability;

/// <summary>
/// Every writer (train's model and checkpoint, predict, seeds, a model save) aimed at a read-only folder or at a
/// full disk fails with an error naming the path, and leaves neither a partial file nor a temporary one. The media
/// are tmpfs mounts made by the test (CI runs as root); where mounting is not allowed the test is skipped with the
/// reason (a read-only folder is then a chmod 555 folder, which binds only a non-root user).
/// </summary>
[TestClass]
public sealed class DiskFailureTests
{
    private static TempDirectory work = null!;
    private static string modelPath = null!;
    private static string data = null!;

    [ClassInitialize]
    public static void Init(TestContext context)
    {
        work = TestData.NewTempDirectory();
        data = CliHost.WriteSyntheticFolder(work.File("data"), 4);
        modelPath = work.File("model.safetensors");
        using SegmentationModel model = TinyModel.Train(iterations: 4);
        model.Save(modelPath);
    }

    [ClassCleanup]
    public static void Cleanup() => work?.Dispose();

    /// <summary>
    /// What writes files, given the folder to write into; each returns the error it reported (null: it succeeded).
    /// </summary>
    private static readonly Dictionary<string, Func<string, string?>> Writers = new()
    {
        ["train --output"] = o => Cli(Train(Path.Combine(o, "trained.safetensors"), checkpoint: null)),
        ["train --checkpoint"] = o => Cli(Train(work.File($"unused-{Guid.NewGuid():N}.safetensors"), Path.Combine(o, "run.ckpt"))),
        ["predict"] = o => Cli("predict", "--model", modelPath, Path.Combine(data, "images", "img000.png"), "--output", Path.Combine(o, "predictions"), "--no-progress"),
        ["seeds"] = o => Cli("seeds", "--model", modelPath, "--images", Path.Combine(data, "images"), "--labels", Path.Combine(data, "labels.csv"),
            "--output", Path.Combine(o, "pseudo"), "--no-progress", "--threads", "1"),
        ["export-onnx"] = o => Cli("export-onnx", "--model", modelPath, "--output", Path.Combine(o, "model.onnx")),
        ["model save"] = o =>
        {
            using var model = SegmentationModel.Load(modelPath);
            try
            {
                model.Save(Path.Combine(o, "saved.safetensors"));
                return null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return e.Message;
            }
        },
    };

    private static string[] Train(string output, string? checkpoint) =>
    [
        "train", "--images", Path.Combine(data, "images"), "--labels", Path.Combine(data, "labels.csv"), "--backbone", "SmallCnn",
        "--iterations", "2", "--batch", "2", "--crop", "32", "--threads", "1", "--no-progress", "--output", output,
        .. checkpoint is null ? Array.Empty<string>() : ["--checkpoint", checkpoint],
    ];

    private static string? Cli(params string[] args)
    {
        var (code, _, err) = CliHost.Run(args);
        return code == 0 ? null : err;
    }

    [TestMethod]
    public void ReadOnlyFolder_EveryWriterFailsNamingThePath_AndLeavesNothing()
    {
        using var dir = TestData.NewTempDirectory();
        string mount = dir.File("ro");
        Directory.CreateDirectory(mount);
        if (!TryMount(mount, "ro,size=1m", out string why))
        {
            if (Environment.UserName == "root" || !OperatingSystem.IsLinux())
            {
                Assert.Inconclusive($"a read-only tmpfs could not be mounted ({why}), and as root (or off Linux) a chmod 555 folder is no read-only folder.");
            }
            else
            {
                File.SetUnixFileMode(mount, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
        }

        try
        {
            CheckEveryWriter(mount, leftAlone: []);
        }
        finally
        {
            Unmount(mount);
        }
    }

    [TestMethod]
    public void FullDisk_EveryWriterFailsNamingThePath_AndLeavesNothing()
    {
        using var dir = TestData.NewTempDirectory();
        string mount = dir.File("full");
        Directory.CreateDirectory(mount);
        if (!TryMount(mount, "size=256k", out string why))
        {
            Assert.Inconclusive($"a small tmpfs could not be mounted: {why}");
        }

        try
        {
            // Fill it: every data block taken, so the first byte any writer writes fails (creating a file still works).
            string filler = Path.Combine(mount, "filler");
            using (var stream = new FileStream(filler, FileMode.CreateNew))
            {
                var block = new byte[4096];
                try
                {
                    while (true)
                    {
                        stream.Write(block);
                        stream.Flush(flushToDisk: true);
                    }
                }
                catch (IOException)
                {
                }
            }

            CheckEveryWriter(mount, leftAlone: [filler]);
        }
        finally
        {
            Unmount(mount);
        }
    }

    private static void CheckEveryWriter(string mount, string[] leftAlone)
    {
        foreach (var (name, write) in Writers)
        {
            string? error = write(mount);
            Console.WriteLine($"{name}: {error?.Trim()}"); // the messages, for the test log
            Assert.IsNotNull(error, $"{name}: writing into {mount} succeeded");
            StringAssert.Contains(error, mount, $"{name}: the error does not name the path");
            string[] left = Directory.GetFiles(mount, "*", SearchOption.AllDirectories).Except(leftAlone).ToArray();
            Assert.AreEqual(0, left.Length, $"{name} left {string.Join(", ", left)} (error: {error})");
        }
    }

    private static bool TryMount(string path, string options, out string why)
    {
        var (code, output) = Run("mount", "-t", "tmpfs", "-o", options, "tmpfs", path);
        why = code == 0 ? "" : $"mount -t tmpfs -o {options} exited {code}: {output.Trim()}";
        return code == 0;
    }

    private static void Unmount(string path)
    {
        if (File.ReadAllText("/proc/mounts").Contains($" {path} ", StringComparison.Ordinal))
        {
            Run("umount", path);
        }
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in args)
            {
                info.ArgumentList.Add(a);
            }

            using var process = Process.Start(info)!;
            string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message); // no mount program
        }
    }
}
