namespace Reel.Grains;

/// <summary>
/// The session slots of one model silo: the authority on whether it may start another session, so that two admissions
/// racing on stale loads can never run more than <see cref="ModelSiloOptions.MaxSessions"/> sessions here.
/// </summary>
public sealed class ModelSiloSlots(ModelSiloOptions options)
{
    private readonly Lock _lock = new();
    private readonly SortedSet<string> _running = new(StringComparer.Ordinal);

    /// <summary>Raised after a slot is taken or given back.</summary>
    public event Action? Changed;

    public IReadOnlyList<string> Running
    {
        get
        {
            lock (_lock) return [.. _running];
        }
    }

    /// <summary>Takes a slot for the session; true also when it holds one already.</summary>
    public bool TryReserve(string session)
    {
        lock (_lock)
        {
            if (_running.Contains(session)) return true;
            if (_running.Count >= options.MaxSessions) return false;
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
