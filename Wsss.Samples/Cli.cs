using Wsss.Torch;

namespace Wsss.Samples;

/// <summary>Shared command-line plumbing: one-line failure reasons and non-zero exit codes.</summary>
internal static class Cli
{
    public static int Guard(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException
                                       or WsssNativeException or FormatException or DllNotFoundException or NotSupportedException)
        {
            return Fail(e.Message);
        }
        catch (OperationCanceledException)
        {
            return Fail("cancelled");
        }
    }

    public static int Fail(string reason)
    {
        Console.Error.WriteLine($"error: {reason.ReplaceLineEndings(" ")}");
        return 2;
    }

    public static Device ParseDevice(string text) =>
        text.Equals("auto", StringComparison.OrdinalIgnoreCase) ? Device.BestAvailable : Device.Parse(text);
}
