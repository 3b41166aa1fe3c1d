using System.CommandLine;

namespace Wsss.Samples.Commands;

/// <summary>`demo`: the engine smoke demo (a tiny network learns generated squares).</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output", "-o") { Description = "Folder for the picture of the prediction.", DefaultValueFactory = _ => "wsss-demo" };
        var steps = new Option<int>("--steps") { Description = "Training steps.", DefaultValueFactory = _ => 200 };
        var command = new Command("demo", "Engine smoke demo: trains a tiny segmentation network on generated squares and writes a picture of its prediction.")
        {
            output, steps,
        };
        var common = CommonOptions.AddTo(command, withSeed: false);
        command.SetAction(parse => Cli.Guard(() =>
        {
            var settings = common.Read(parse);
            settings.Apply();
            return EngineDemo.Run(parse.GetValue(output)!, parse.GetValue(steps), settings.Device);
        }));
        return command;
    }
}
