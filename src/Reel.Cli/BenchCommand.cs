using System.CommandLine;

namespace Reel.Cli;

public static class BenchCommand
{
    public static Command Create() => new("bench", "Benchmarks");
}
