namespace Reel.Grains;

/// <summary>
/// The session slots of one model silo: the authority on whether it may start another session, so that two admissions
/// racing on stale loads can never run more than <see cref="ModelSiloOptions.MaxSessions"/> sessions here.
/// </summary>
public sealed class ModelSiloSlots(ModelSiloOptions options)
{
    private readonly Lock _lock = new();
    private readonly SortedSet<string> _running = new(StringComparer.Ordinal);
    private volatile bool _draining;

    /// <summary>Raised after a slot is taken or given back.</summary>
    public event Action? Changed;

    public IReadOnlyList<string> Running
    {
        get
        {
            lock (_lock) return [.. _running];
        }
    }

    /// <summary>Draining: the silo takes no session; the running ones move on after their current chunk.</summary>
    public bool Draining => _draining;

    /// <summary>Starts draining (for good: a drained silo stops, or stays empty for maintenance).</summary>
    public void Drain()
    {
        _draining = true;
        Changed?.Invoke();
    }

    /// <summary>Takes a slot for the session; true also when it holds one already. None while draining.</summary>
    public bool TryReserve(string session)
    {
        lock (_lock)
        {
            if (_running.Contains(session)) return true;
            if (_draining || _running.Count >= options.MaxSessions) return false;
            _running.Add(session);
        }
        Changed?.Invoke();
        return true;
    }

    public void Release(string session)
    {
        bool removed;
        lock (_lock) removed = _running.Remove(session);
        if (removed) Changed?.Invoke();
    }
}
