using System.CommandLine;
using System.Text.Json;
using Reel.Hosting;
using Reel.Media;
using Reel.Model;

namespace Reel.Cli;

/// <summary>
/// Errors a user can cause end with one line on stderr and a non-zero exit, never a stack trace:
/// exit 2 for a command line that does not parse, 1 for everything else.
/// </summary>
public static class CommandErrors
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task<int> InvokeAsync(RootCommand root, string[] args)
    {
        var result = root.Parse(args);
        if (result.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
        {
            var command = string.Join(' ', result.CommandResult.Command is RootCommand ? ["reel"] : new[] { "reel", result.CommandResult.Command.Name });
            Console.Error.WriteLine($"reel: {result.Errors[0].Message} (see '{command} --help')");
            return 2;
        }
        return await result.InvokeAsync();
    }

    public static async Task<int> RunAsync(Func<Task> action)
    {
        try
        {
            await action();
            return 0;
        }
        catch (Exception e) when (e is ModelException or MediaException or ReelConfigurationException or Gateway.TenantsFileException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"reel: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("reel: cancelled");
            return 130;
        }
    }
}
