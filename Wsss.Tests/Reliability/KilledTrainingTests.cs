using System.Diagnostics;
using System.Globalization;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Wsss.Model.Serialization;
using Wsss.Tests.Cli;

namespace Wsss.Tests.Reliability;

/// <summary>
/// Training killed with SIGKILL at 20 moments (random ones, and ones where a checkpoint is being written) resumes
/// from its last checkpoint each time and ends with the same model, bit for bit at one thread, as a run never
/// interrupted; what lies under the checkpoint's name is complete after every kill.
/// </summary>
[TestClass]
public sealed class KilledTrainingTests
{
    private const int Kills = 20;
    private const int Iterations = 300;

    private static string SamplesDll => Path.Combine(AppContext.BaseDirectory, "Wsss.Samples.dll");

    private static string Dotnet =>
        Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";

    private static string[] TrainArguments(string data, string checkpoint, string output) =>
    [
        SamplesDll, "train", "--images", Path.Combine(data, "images"), "--labels", Path.Combine(data, "labels.csv"),
        "--backbone", "SmallCnn", "--iterations", Iterations.ToString(CultureInfo.InvariantCulture), "--batch", "2", "--crop", "32",
        "--lr", "0.01", "--momentum", "0.9", "--warmup", "0.3", "--threads", "1", "--seed", "3", "--device", "cpu",
        "--checkpoint", checkpoint, "--checkpoint-interval", "1", "--no-progress", "--output", output,
    ];

    private static Process Start(string[] arguments)
    {
        var info = new ProcessStartInfo(Dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the CLI");
        // Drained so that a full pipe never blocks the child.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void RunToEnd(string[] arguments)
    {
        using Process process = Start(arguments);
        Assert.IsTrue(process.WaitForExit(TimeSpan.FromMinutes(5)), "the training did not finish (hang guard)");
        Assert.AreEqual(0, process.ExitCode, "train exited with an error");
    }

    private static string[] Temporaries(string checkpoint) =>
        Directory.GetFiles(Path.GetDirectoryName(checkpoint)!, $".{Path.GetFileName(checkpoint)}.*.tmp");

    [TestMethod]
    public void TrainingKilledTwentyTimes_ResumesToTheUninterruptedModel()
    {
        using var dir = TestData.NewTempDirectory();
        string data = CliHost.WriteSyntheticFolder(dir.File("data"), 8, size: 40);

        RunToEnd(TrainArguments(data, dir.File("straight.ckpt"), dir.File("straight.safetensors")));

        string checkpoint = dir.File("killed.ckpt");
        string[] arguments = TrainArguments(data, checkpoint, dir.File("killed.safetensors"));
        var random = new Random(13);
        int duringWrite = 0, lastIteration = 0;
        for (int kill = 0; kill < Kills; kill++)
        {
            using Process child = Start(arguments);
            if (kill % 2 == 0)
            {
                // A random moment: start-up, loading the checkpoint, a training step or a write.
                Thread.Sleep(TimeSpan.FromMilliseconds(100 + random.Next(1700)));
            }
            else
            {
                // While a checkpoint is being written: its temporary file exists until the rename.
                var clock = Stopwatch.StartNew();
                while (Temporaries(checkpoint).Length == 0 && !child.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
                {
                    Thread.SpinWait(1000);
                }
            }

            Assert.IsFalse(child.HasExited, $"kill {kill + 1}: the training ended before it was killed (exit {(child.HasExited ? child.ExitCode : 0)}); more iterations are needed");
            child.Kill();
            Assert.IsTrue(child.WaitForExit(TimeSpan.FromSeconds(30)));
            duringWrite += Temporaries(checkpoint).Length > 0 ? 1 : 0;

            // Whatever lies under the checkpoint's name is a complete checkpoint, never older than the previous one.
            if (File.Exists(checkpoint))
            {
                SafetensorsContent content = SafetensorsFile.Read(checkpoint);
                int iteration = int.Parse(content.Metadata["iteration"], CultureInfo.InvariantCulture);
                Assert.IsTrue(iteration >= lastIteration, $"kill {kill + 1}: checkpoint went back from iteration {lastIteration} to {iteration}");
                Assert.IsTrue(iteration < Iterations, "the training was not interrupted");
                lastIteration = iteration;
            }
        }

        RunToEnd(arguments);

        Console.WriteLine($"{Kills} kills survived, {duringWrite} of them during a checkpoint write; last checkpoint before the final run: iteration {lastIteration} of {Iterations}.");
        Assert.IsTrue(duringWrite >= Kills / 4, $"only {duringWrite} of {Kills} kills fell inside a checkpoint write");
        Assert.IsTrue(lastIteration > 0, "no kill came after a checkpoint");
        Assert.AreEqual(0, Temporaries(checkpoint).Length, "the resumed run removes the temporary files of killed writes");
        var straight = SafetensorsFile.Read(dir.File("straight.safetensors"));
        var resumed = SafetensorsFile.Read(dir.File("killed.safetensors"));
        Assert.AreEqual(straight.Tensors.Count, resumed.Tensors.Count);
        foreach (TensorData t in straight.Tensors)
        {
            CollectionAssert.AreEqual(t.Data, resumed[t.Name].Data, $"tensor {t.Name} differs after {Kills} kills ({duringWrite} during checkpoint writes)");
        }
    }
}
