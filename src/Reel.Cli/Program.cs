using System.CommandLine;
using Reel.Cli;

var root = new RootCommand("Reel: a video generation model and the cluster that serves it.")
{
    GenerateCommand.Create(),
    EvalCommand.Create(),
    TrainCommand.Create(),
    ScalingCommand.Create(),
    AblateCommand.Create(),
    BenchCommand.Create(),
    SiloCommands.Silo(),
    SiloCommands.Serve(),
    SiloCommands.Gateway(),
    SiloCommands.Drain(),
    TenantsCommand.Create(),
    WeightsCommand.Create(),
};
return await CommandErrors.InvokeAsync(root, args);
