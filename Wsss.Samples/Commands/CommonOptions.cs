using System.CommandLine;
using TorchSharp;
using Wsss.Engine;
using static TorchSharp.torch;

namespace Wsss.Samples.Commands;

/// <summary>What every command that runs the network shares: device, threads, seed and the progress switch.</summary>
internal sealed record CommonSettings(Device Device, int Threads, int Seed, bool NoProgress)
{
    /// <summary>Threads actually used (0 means all cores).</summary>
    public int ThreadCount => Threads > 0 ? Threads : Environment.ProcessorCount;

    /// <summary>Checks the device and sets libtorch's thread count.</summary>
    public void Apply()
    {
        Devices.EnsureAvailable(Device);
        TorchEngine.Threads = ThreadCount;
    }
}

/// <summary>The options behind <see cref="CommonSettings"/>, added to one command.</summary>
internal sealed class CommonOptions
{
    private readonly Option<string> device = new("--device") { Description = "cpu, cuda, cuda:N or auto (a GPU when one is usable, else the CPU). Default auto.", DefaultValueFactory = _ => "auto" };
    private readonly Option<int> threads = new("--threads") { Description = "CPU threads for libtorch and the CRFs; 0 = all cores. Default 0.", DefaultValueFactory = _ => 0 };
    private readonly Option<int> seed = new("--seed") { Description = "Random seed (data order, augmentation, initialisation, synthetic data). Default 0.", DefaultValueFactory = _ => 0 };
    private readonly Option<bool> noProgress = new("--no-progress") { Description = "Print plain progress lines instead of progress bars (automatic when output is redirected)." };

    public static CommonOptions AddTo(Command command, bool withSeed = true)
    {
        var o = new CommonOptions();
        command.Options.Add(o.device);
        command.Options.Add(o.threads);
        if (withSeed)
        {
            command.Options.Add(o.seed);
        }

        command.Options.Add(o.noProgress);
        return o;
    }

    public CommonSettings Read(ParseResult parse)
    {
        int t = parse.GetValue(threads);
        if (t < 0)
        {
            throw new ArgumentException($"--threads must be 0 (all cores) or positive, got {t}.");
        }

        return new CommonSettings(Cli.ParseDevice(parse.GetValue(device)!), t, parse.GetValue(seed), parse.GetValue(noProgress));
    }
}
