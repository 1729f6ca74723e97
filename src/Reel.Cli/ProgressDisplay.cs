using Reel.Model;
using Spectre.Console;

namespace Reel.Cli;

/// <summary>A progress bar on stderr over chunks and denoising steps; does nothing when stderr is not a terminal.</summary>
public sealed class ProgressDisplay : IDisposable
{
    private readonly TaskCompletionSource _finished = new();
    private readonly Task? _renderer;
    private readonly ProgressTask? _bar;
    private int _chunks = 1, _steps = 1;

    private ProgressDisplay(bool interactive)
    {
        if (!interactive) return;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        var ready = new TaskCompletionSource<ProgressTask>();
        _renderer = Task.Run(() => console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                ready.SetResult(context.AddTask("preparing", maxValue: 1));
                _finished.Task.Wait();
            }));
        _bar = ready.Task.Result;
        _bar.IsIndeterminate = true;
    }

    public static ProgressDisplay Start(bool interactive) => new(interactive);

    public void Begin(ChunkPlan plan, int steps)
    {
        (_chunks, _steps) = (plan.Chunks.Count, steps);
        if (_bar is null) return;
        _bar.IsIndeterminate = false;
        _bar.MaxValue = _chunks * _steps;
        _bar.Value = 0;
    }

    public void Step(ChunkSpan chunk, int step, int steps)
    {
        if (_bar is null) return;
        _bar.Description = $"chunk {chunk.Index + 1}/{_chunks}, step {step}/{steps}";
        if (!_bar.IsIndeterminate) _bar.Value = chunk.Index * _steps + step;
    }

    public void Dispose()
    {
        if (_renderer is null || _finished.Task.IsCompleted) return;
        _bar!.StopTask();
        _finished.SetResult();
        _renderer.Wait();
    }
}
