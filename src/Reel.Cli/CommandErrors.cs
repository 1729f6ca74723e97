using System.Text.Json;
using Reel.Model;

namespace Reel.Cli;

/// <summary>Turns errors a user can cause into one line on stderr and exit code 1; never a stack trace.</summary>
public static class CommandErrors
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static int Run(Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (Exception e) when (e is ModelException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"reel: {e.Message}");
            return 1;
        }
    }
}
