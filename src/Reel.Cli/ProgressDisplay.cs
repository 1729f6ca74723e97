using System.Diagnostics;
using Reel.Model;
using Spectre.Console;

namespace Reel.Cli;

/// <summary>
/// Progress over chunks and denoising steps on stderr: a bar on a terminal; otherwise (a log, a pipe) a line every
/// <see cref="ProgressLog.Period"/> with what is done and an estimate of what is left, none when <c>quiet</c>.
/// </summary>
public sealed class ProgressDisplay : IDisposable
{
    private readonly TaskCompletionSource _finished = new();
    private readonly Task? _renderer;
    private readonly ProgressTask? _bar;
    private readonly ProgressLog? _log;
    private int _chunks = 1, _steps = 1;

    private ProgressDisplay(bool interactive, bool quiet)
    {
        if (!interactive)
        {
            if (!quiet) _log = new ProgressLog("steps");
            return;
        }
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

    public static ProgressDisplay Start(bool interactive, bool quiet = false) => new(interactive, quiet);

    public void Begin(ChunkPlan plan, int steps)
    {
        (_chunks, _steps) = (plan.Chunks.Count, steps);
        _log?.Begin(_chunks * _steps);
        if (_bar is null) return;
        _bar.IsIndeterminate = false;
        _bar.MaxValue = _chunks * _steps;
        _bar.Value = 0;
    }

    public void Step(ChunkSpan chunk, int step, int steps)
    {
        _log?.Done(chunk.Index * _steps + step, $"chunk {chunk.Index + 1}/{_chunks}, step {step}/{steps}");
        if (_bar is null) return;
        _bar.Description = $"chunk {chunk.Index + 1}/{_chunks}, step {step}/{steps}";
        if (!_bar.IsIndeterminate) _bar.Value = chunk.Index * _steps + step;
    }

    public void Dispose()
    {
        _log?.Dispose();
        if (_renderer is null || _finished.Task.IsCompleted) return;
        _bar!.StopTask();
        _finished.SetResult();
        _renderer.Wait();
    }
}

/// <summary>
/// A long command's progress as lines on stderr for a log or a pipe: every <see cref="Period"/> (also while one item
/// takes longer than that), what is done, the time so far and an estimate of what is left.
/// </summary>
public sealed class ProgressLog : IDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(30);

    private readonly string _unit;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private int _done, _total;
    private string _what = "starting";

    public ProgressLog(string unit, int total = 0)
    {
        (_unit, _total) = (unit, total);
        _timer = new Timer(_ => Write(), null, Period, Period);
    }

    public void Begin(int total)
    {
        lock (_lock) _total = total;
    }

    public void Done(int done, string? what = null)
    {
        lock (_lock) (_done, _what) = (done, what ?? $"{done}/{_total} {_unit}");
    }

    private void Write()
    {
        string line;
        lock (_lock)
        {
            var elapsed = _clock.Elapsed;
            var left = _done > 0 && _total > 0 ? $", about {Format(elapsed * ((double)(_total - _done) / _done))} left" : ", no estimate yet";
            line = $"{_what}: {_done}/{_total} {_unit}, {Format(elapsed)}{left}";
        }
        Console.Error.WriteLine(line);
    }

    private static string Format(TimeSpan t) => t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes} min {t.Seconds} s" : $"{t.TotalSeconds:0} s";

    public void Dispose() => _timer.Dispose();
}
