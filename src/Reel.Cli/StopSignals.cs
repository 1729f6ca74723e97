using System.Runtime.InteropServices;

namespace Reel.Cli;

/// <summary>
/// SIGINT and SIGTERM as a cancellation token, for commands that save their work before exiting (a training run's
/// checkpoint). System.CommandLine 2.0.0 leaves these signals unhandled (its ProcessTerminationTimeout defaults to null,
/// dotnet/command-line-api#2739), so without this the process ends at once; the silo commands rely on the host's own
/// handler instead, which drains for as long as the drain timeout allows.
/// </summary>
public sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly PosixSignalRegistration _sigint, _sigterm;

    public StopSignals(CancellationToken cancel)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
    }

    public CancellationToken Token => _stop.Token;

    private void Stop(PosixSignalContext context)
    {
        context.Cancel = true;
        _stop.Cancel();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _stop.Dispose();
    }
}
