using Microsoft.Extensions.Logging;
using Orleans.Runtime.Placement;
using Orleans.Storage;
using System.Diagnostics.Metrics;
using Reel.Abstractions;
using Reel.Inference;

namespace Reel.Grains;

/// <summary>A pool's durable admission queue: what waits, which weights versions the pool has run, where its sessions run.</summary>
[GenerateSerializer]
public sealed class PoolState
{
    [Id(0)] public List<QueuedSession> Queue { get; set; } = [];

    /// <summary>Every weights hash a model silo of the pool has reported, with when it was first seen.</summary>
    [Id(1)] public Dictionary<string, DateTimeOffset> WeightsSeen { get; set; } = [];

    /// <summary>The index of unfinished sessions: session key → the silo it runs on (<c>SiloAddress.ToParsableString</c>).</summary>
    [Id(3)] public Dictionary<string, string> Running { get; set; } = [];

    /// <summary>
    /// Weighted round-robin (stride scheduling): each tenant's pass, advanced by 1 / weight per session it starts;
    /// the waiting tenant with the lowest pass goes next.
    /// </summary>
    [Id(4)] public Dictionary<string, double> Passes { get; set; } = [];

    /// <summary>The pass of the last session started: a tenant that starts waiting begins there, with no credit for having been idle.</summary>
    [Id(5)] public double VirtualTime { get; set; }

    /// <summary>What each weights hash serves, as its silos last reported: requests are checked even while no silo runs.</summary>
    [Id(6)] public Dictionary<string, ServedModel> Served { get; set; } = [];
}

[GenerateSerializer, Immutable]
public sealed record QueuedSession(
    [property: Id(0)] SessionKey Key,
    [property: Id(1)] VideoRequest Request,
    [property: Id(2)] DateTimeOffset CreatedAt,
    [property: Id(3)] double Share = 1);

/// <summary>
/// Admission for one pool, and the one place that decides where its sessions run (docs/contracts.md, "Where a session
/// runs"): sessions start in weighted round-robin across tenants (in arrival order within a tenant) as model silos of
/// the pool with their weights have free slots, so a tenant flooding the queue cannot starve another; a session none
/// of whose silos has room waits without holding back those behind it that fit elsewhere. Sessions of silos that left
/// or drain resume here, and a session asks here where to go after each commit. Every choice of a silo is
/// <see cref="SiloChoice.ByLoad"/>. Loads are soft state, rebuilt from the silos' reports within one report period
/// after the grain moves; so are the queue positions last told to videos.
/// </summary>
public sealed partial class PoolGrain(
    [PersistentState("pool", ReelStorage.Name)] IPersistentState<PoolState> state,
    IClusterMembershipService membership,
    ILogger<PoolGrain> logger) : Grain, IPoolGrain
{
    /// <summary>A load report older than this is not trusted (a silo reports every few seconds).</summary>
    private static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(30);

    private readonly Dictionary<SiloAddress, SiloLoad> _loads = [];

    /// <summary>For each session of the index: how many load reports in a row its (live) silo sent without it.</summary>
    private readonly Dictionary<string, int> _unlisted = [];
    private readonly Dictionary<SessionKey, int> _toldPositions = [];
    private IDisposable? _queueMetric;

    private string Pool => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Only the silo hosting the pool reports its queue, so the metric's sum over silos is the queue.
        // Read at scrape time on the exporter's thread: only plain values are captured, never the grain's context.
        var pool = Pool;
        var queue = state.State;
        _queueMetric = ReelTelemetry.ReportQueue(this, () => ReelTelemetry.TenantLabels
            ? queue.Queue.ToList().GroupBy(q => q.Key.Tenant).Select(g => new Measurement<int>(g.Count(), new("pool", pool), new("tenant", g.Key))).ToList()
            : [new Measurement<int>(queue.Queue.Count, new KeyValuePair<string, object?>("pool", pool))]);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _queueMetric?.Dispose();
        return Task.CompletedTask;
    }

    public async Task<SessionSnapshot> Submit(string tenant, VideoRequest request, string? weights = null, double share = 1)
    {
        if (!(share > 0)) throw new ArgumentException($"A tenant's share must be more than 0, got {share}.", nameof(share));
        if (!SessionKey.IsValidTenant(tenant)) throw new ArgumentException($"'{tenant}' is not a valid tenant name.", nameof(tenant));
        if (weights is not null && !WeightsVersion.IsValid(weights)) throw new ArgumentException($"'{weights}' is not a weights version.", nameof(weights));
        var key = SessionKey.New(tenant, Pool, weights ?? NewestVersion());
        var createdAt = DateTimeOffset.UtcNow;
        var video = GrainFactory.GetGrain<IVideoGrain>(key.VideoGrainKey);
        await video.Create(key, request, createdAt, ServedBy(key.Weights));
        state.State.Queue.Add(new QueuedSession(key, request, createdAt, share));
        await SaveAsync();
        LogQueued(key.Session, Pool, key.Weights);
        await AdmitAsync();
        // Positions are told without waiting, and a read may be served before them: the answer to a create must carry
        // the new video's position, so it is told again and waited for.
        var position = InTurn().FindIndex(q => q.Key == key) + 1;
        if (position > 0) await video.Queued(position);
        return await video.Get() ?? throw new InvalidOperationException($"Video {key.VideoGrainKey} was recorded but is gone.");
    }

    public async Task<bool> CancelQueued(string sessionKey)
    {
        var index = state.State.Queue.FindIndex(q => q.Key.ToString() == sessionKey);
        if (index < 0) return false;
        state.State.Queue.RemoveAt(index);
        await SaveAsync();
        TellPositions();
        return true;
    }

    public async Task Report(SiloLoad load)
    {
        _loads[load.Silo] = load;
        var reporter = load.Silo.ToParsableString();
        foreach (var (sessionKey, host) in state.State.Running)
            if (host == reporter) _unlisted[sessionKey] = load.Running.Contains(sessionKey) ? 0 : _unlisted.GetValueOrDefault(sessionKey) + 1;
        var seen = state.State.WeightsSeen.TryAdd(load.WeightsHash, DateTimeOffset.UtcNow);
        var described = !state.State.Served.TryGetValue(load.WeightsHash, out var known) || !Same(known, load.Model);
        // Stored with arrays: JSON grain storage records the lists' concrete types, and a compiler-made collection type
        // (what a collection expression gives a read-only list) cannot be resolved when the state is read back.
        if (described) state.State.Served[load.WeightsHash] = load.Model with { Sizes = load.Model.Sizes.ToArray(), Durations = load.Model.Durations.ToArray() };
        if (seen || described) await SaveAsync();
        await AdmitAsync();
    }

    public async Task Running(string sessionKey, SiloAddress silo)
    {
        state.State.Running[sessionKey] = silo.ToParsableString();
        _unlisted.Remove(sessionKey);
        await SaveAsync();
    }

    public async Task Finished(string sessionKey)
    {
        _unlisted.Remove(sessionKey);
        if (state.State.Running.Remove(sessionKey)) await SaveAsync();
    }

    /// <summary>The newest weights' model: from a live silo, else as its silos last described it (a pool scaled to zero still checks requests).</summary>
    public Task<ServedModel?> Served() => Task.FromResult(ServedBy(NewestVersion()));

    /// <summary>The model a weights version's silos serve: a live one's, else as they last described it.</summary>
    private ServedModel? ServedBy(string version) =>
        LiveLoads().FirstOrDefault(l => WeightsVersion.Matches(version, l.WeightsHash))?.Model
        ?? state.State.Served.Where(s => WeightsVersion.Matches(version, s.Key)).Select(s => s.Value).FirstOrDefault();

    private static bool Same(ServedModel a, ServedModel b) =>
        a.Name == b.Name && a.Sizes.SequenceEqual(b.Sizes) && a.Durations.SequenceEqual(b.Durations)
        && (a.SizeMultiple, a.FrameRate, a.MaxSeconds) == (b.SizeMultiple, b.FrameRate, b.MaxSeconds);

    public Task<IReadOnlyList<SiloLoad>> Loads() => Task.FromResult<IReadOnlyList<SiloLoad>>(LiveLoads());

    public Task<SiloAddress?> NextSilo(string sessionKey, SiloAddress from, MigrationPolicy policy, bool draining)
    {
        var key = SessionKey.Parse(sessionKey);
        var loads = LiveLoads();
        var here = loads.FirstOrDefault(l => l.Silo.Equals(from));
        draining |= here?.Draining ?? false;
        if (policy == MigrationPolicy.Stay && !draining) return Task.FromResult<SiloAddress?>(null);
        var weightsHash = here?.WeightsHash;
        var best = SiloChoice.ByLoad(loads, key.Weights, weightsHash, except: from).FirstOrDefault();
        // Balance moves only to a silo running at least two fewer sessions than this one.
        if (best is not null && policy == MigrationPolicy.Balance && !draining && best.Running.Count + 2 > (here?.Running.Count ?? 1)) best = null;
        return Task.FromResult(best?.Silo);
    }

    /// <summary>
    /// Tells each waiting video its place in the queue when it changed. The place is the video's turn, not its arrival:
    /// other tenants' sessions may go first. One-way: a video never holds up admission.
    /// </summary>
    private void TellPositions()
    {
        var turn = InTurn();
        foreach (var gone in _toldPositions.Keys.Where(k => turn.All(q => q.Key != k)).ToList()) _toldPositions.Remove(gone);
        for (var i = 0; i < turn.Count; i++)
        {
            if (_toldPositions.TryGetValue(turn[i].Key, out var told) && told == i + 1) continue;
            _toldPositions[turn[i].Key] = i + 1;
            GrainFactory.GetGrain<IVideoGrain>(turn[i].Key.VideoGrainKey).Queued(i + 1).Ignore();
        }
    }

    private List<SiloLoad> LiveLoads()
    {
        var snapshot = membership.CurrentSnapshot;
        var now = DateTimeOffset.UtcNow;
        foreach (var silo in _loads.Keys.ToList())
            if (snapshot.GetSiloStatus(silo) != SiloStatus.Active || now - _loads[silo].At > StaleAfter) _loads.Remove(silo);
        return [.. _loads.Values];
    }

    /// <summary>The weights version of the newest weights the pool's live silos hold; the newest ever seen when none is live.</summary>
    private string NewestVersion()
    {
        var live = LiveLoads().Select(l => l.WeightsHash).ToHashSet();
        var seen = state.State.WeightsSeen;
        var candidates = seen.Where(w => live.Contains(w.Key)).ToList();
        if (candidates.Count == 0) candidates = [.. seen];
        return candidates.Count == 0 ? WeightsVersion.Latest : WeightsVersion.Of(candidates.MaxBy(w => w.Value).Key);
    }

    /// <summary>
    /// First the sessions of silos that left the cluster (died, stopped, a previous process), that drain and let them
    /// go, or that no longer run them resume on live silos,
    /// then waiting sessions start, each where its weights are and a slot is free, least loaded first.
    /// </summary>
    private async Task AdmitAsync()
    {
        var full = new HashSet<SiloAddress>();
        foreach (var (sessionKey, host) in state.State.Running.ToList())
        {
            var address = SiloAddress.FromParsableString(host);
            if (!Gone(address) && !DrainedOf(address, sessionKey) && !Abandoned(sessionKey)) continue;
            var key = SessionKey.Parse(sessionKey);
            var resumed = await PlaceAsync(key, full, session => session.Resume());
            if (resumed is null) continue;
            _unlisted.Remove(sessionKey);
            LogResumed(key.Session, host, resumed.Value.Silo.ToString());
            if (resumed.Value.Snapshot.IsFinished) state.State.Running.Remove(sessionKey);
            else state.State.Running[sessionKey] = resumed.Value.Silo.ToParsableString();
            await SaveAsync();
        }
        var admitted = true;
        while (admitted)
        {
            admitted = false;
            foreach (var entry in InTurn())
            {
                var started = await PlaceAsync(entry.Key, full, session => session.Start(entry.Request, entry.CreatedAt, entry.Share));
                if (started is null) continue;
                state.State.Queue.Remove(entry);
                var pass = Pass(entry.Key.Tenant);
                state.State.VirtualTime = pass;
                state.State.Passes[entry.Key.Tenant] = pass + 1 / entry.Share;
                if (!started.Value.Snapshot.IsFinished) state.State.Running[entry.Key.ToString()] = started.Value.Silo.ToParsableString();
                await SaveAsync();
                LogAdmitted(entry.Key.Session, started.Value.Silo.ToString());
                // Passes changed: the next turn is decided afresh.
                admitted = true;
                break;
            }
        }
        TellPositions();
    }

    /// <summary>Waiting sessions in the order they get their turn: lowest tenant pass first, arrival order within a tenant.</summary>
    private List<QueuedSession> InTurn() =>
        [.. state.State.Queue.Select((entry, arrival) => (entry, arrival)).OrderBy(q => Pass(q.entry.Key.Tenant)).ThenBy(q => q.arrival).Select(q => q.entry)];

    private double Pass(string tenant) => Math.Max(state.State.Passes.GetValueOrDefault(tenant), state.State.VirtualTime);

    /// <summary>
    /// Writes the state; when another activation of this pool wrote first (a failover duplicate), this one's view is
    /// stale: it deactivates, so the next call loads the current state, and the caller sees the failure.
    /// </summary>
    private async Task SaveAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch (InconsistentStateException)
        {
            DeactivateOnIdle();
            throw;
        }
    }

    /// <summary>A draining silo that no longer runs the session: it handed it on, or had nowhere to hand it.</summary>
    private bool DrainedOf(SiloAddress host, string sessionKey) =>
        _loads.TryGetValue(host, out var load) && load.Draining && !load.Running.Contains(sessionKey);

    /// <summary>
    /// A session its live silo has left out of two load reports in a row: it runs nowhere, and only its reminder would
    /// wake it (the runtime deactivated it there: Orleans deactivates the activations whose directory entry a dead silo
    /// held; or it waits there with no slot). One report is not enough: a report the silo sent just before it took the
    /// session can arrive after the pool placed it there.
    /// </summary>
    private bool Abandoned(string sessionKey) => _unlisted.GetValueOrDefault(sessionKey) >= 2;

    /// <summary>A silo that is no longer a member: its sessions run nowhere.</summary>
    private bool Gone(SiloAddress host) =>
        membership.CurrentSnapshot.GetSiloStatus(host) is not (SiloStatus.Active or SiloStatus.Joining or SiloStatus.Created);

    /// <summary>
    /// Calls <paramref name="call"/> on the session placed, through the placement hint, on a silo with its weights and
    /// a free slot; tries the next silo when one turns out to be full. Null when no silo took it.
    /// </summary>
    private async Task<(SiloAddress Silo, SessionSnapshot Snapshot)?> PlaceAsync(
        SessionKey key, HashSet<SiloAddress> full, Func<IGenerationSessionGrain, Task<SessionSnapshot?>> call)
    {
        var targets = SiloChoice.ByLoad(LiveLoads(), key.Weights).Where(l => !full.Contains(l.Silo)).ToList();
        foreach (var target in targets)
        {
            RequestContext.Set(IPlacementDirector.PlacementHintKey, target.Silo);
            try
            {
                if (await call(GrainFactory.GetGrain<IGenerationSessionGrain>(key.ToString())) is { } snapshot)
                {
                    _loads[target.Silo] = target with { Running = [.. target.Running, key.ToString()] };
                    return (target.Silo, snapshot);
                }
            }
            catch (Exception e)
            {
                LogStartFailed(key.Session, target.Silo.ToString(), e.Message);
            }
            finally
            {
                RequestContext.Remove(IPlacementDirector.PlacementHintKey);
            }
            full.Add(target.Silo);
        }
        return null;
    }

    [LoggerMessage(LogLevel.Information, "Session {Session} queued in pool {Pool} for weights {Weights}")]
    private partial void LogQueued(string session, string pool, string weights);

    [LoggerMessage(LogLevel.Information, "Session {Session} admitted on {Silo}")]
    private partial void LogAdmitted(string session, string silo);

    [LoggerMessage(LogLevel.Information, "Session {Session}, which {From} no longer runs, resumed on {Silo}")]
    private partial void LogResumed(string session, string from, string silo);

    [LoggerMessage(LogLevel.Warning, "Starting session {Session} on {Silo} failed: {Reason}")]
    private partial void LogStartFailed(string session, string silo, string reason);
}
