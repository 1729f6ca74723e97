using System.CommandLine;
using Reel.Cli;

var root = new RootCommand("Reel: a video generation model and the cluster that serves it.")
{
    DemoCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
