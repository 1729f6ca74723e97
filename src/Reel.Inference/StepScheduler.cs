namespace Reel.Inference;

/// <summary>Whose chunk a denoising step serves, and that tenant's share of the model host (the pool's share).</summary>
public sealed record TenantShare(string Tenant, double Share)
{
    public static TenantShare Anyone { get; } = new("", 1);
}

/// <summary>
/// Chooses which chunks take the next denoising step together. Weighted round-robin by tenant (stride scheduling, as
/// the pool admits sessions): each tenant's pass advances by 1 / share per chunk-step it gets, and the slot goes to the
/// lowest pass; within a tenant, to its chunk furthest along, then the oldest (a tenant's chunks finish one after
/// another when they cannot share a step, as whole chunks did before steps were scheduled: the first is done soonest). The first pick decides
/// the step's latent shape; the rest of the batch (up to <see cref="MaxBatch"/>) is filled, in the same order, from
/// chunks of that shape. So shapes take turns as their tenants' passes say, and a step never waits for companions:
/// a chunk joins at the next step after it arrives.
/// </summary>
public sealed class StepScheduler<TJob>(int maxBatch) where TJob : class
{
    private readonly List<Entry> _entries = [];
    private readonly Dictionary<string, double> _passes = [];
    private double _virtualTime;
    private long _arrivals;

    public int MaxBatch { get; } = maxBatch >= 1 ? maxBatch : throw new ArgumentOutOfRangeException(nameof(maxBatch), "The batch must hold at least one chunk.");

    public int Count => _entries.Count;

    public IEnumerable<TJob> Jobs => _entries.Select(e => e.Job);

    /// <summary>Adds a chunk of <paramref name="shape"/>; a tenant that was idle starts at the current pass, with no credit for the idle time.</summary>
    public void Add(TJob job, TenantShare owner, string shape)
    {
        if (!(owner.Share > 0)) throw new ArgumentOutOfRangeException(nameof(owner), $"A tenant's share must be more than 0, got {owner.Share}.");
        if (_entries.All(e => e.Owner.Tenant != owner.Tenant)) _passes[owner.Tenant] = Math.Max(_passes.GetValueOrDefault(owner.Tenant), _virtualTime);
        _entries.Add(new Entry(job, owner, shape, _arrivals++));
    }

    public void Remove(TJob job) => _entries.RemoveAll(e => ReferenceEquals(e.Job, job));

    /// <summary>The chunks of the next step, all of one shape, and charges their tenants for it.</summary>
    public IReadOnlyList<TJob> NextBatch()
    {
        if (_entries.Count == 0) return [];
        var batch = new List<Entry> { Take(_entries) };
        _virtualTime = _passes[batch[0].Owner.Tenant] - 1 / batch[0].Owner.Share;
        var companions = _entries.Where(e => e.Shape == batch[0].Shape && !ReferenceEquals(e, batch[0])).ToList();
        while (batch.Count < MaxBatch && companions.Count > 0)
        {
            var next = Take(companions);
            companions.Remove(next);
            batch.Add(next);
        }
        return batch.Select(e => e.Job).ToList();
    }

    private Entry Take(IEnumerable<Entry> candidates)
    {
        var chosen = candidates.OrderBy(e => _passes[e.Owner.Tenant]).ThenByDescending(e => e.Steps).ThenBy(e => e.Arrival).First();
        _passes[chosen.Owner.Tenant] += 1 / chosen.Owner.Share;
        chosen.Steps++;
        return chosen;
    }

    private sealed record Entry(TJob Job, TenantShare Owner, string Shape, long Arrival)
    {
        public long Steps { get; set; }
    }
}
