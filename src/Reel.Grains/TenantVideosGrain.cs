using Microsoft.Extensions.Logging;
using Reel.Abstractions;
using Reel.Storage;

namespace Reel.Grains;

[GenerateSerializer]
public sealed class TenantVideosState
{
    /// <summary>The tenant's videos as their grains last reported them, oldest first.</summary>
    [Id(0)] public List<SessionSnapshot> Videos { get; set; } = [];

    [Id(1)] public bool SweepScheduled { get; set; }
}

/// <summary>How tenants' storage is swept (docs/contracts.md, "Retention").</summary>
public sealed class RetentionOptions
{
    /// <summary>How often each tenant's videos are swept: expired ones and orphaned artifacts deleted. Default 10 min.</summary>
    public TimeSpan SweepPeriod { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>An upload no unfinished video names is deleted once it is this old (a create may still be on its way). Default 1 h.</summary>
    public TimeSpan UploadGrace { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// A tenant's videos as one list (see <see cref="ITenantVideosGrain"/>): a page is one call, whatever the weights the
/// videos were made with. Its entries are copies; each video's grain is the record, and the sweep asks it before it
/// deletes anything.
/// </summary>
public sealed partial class TenantVideosGrain(
    [PersistentState("videos", ReelStorage.Name)] IPersistentState<TenantVideosState> state,
    IArtifactStore artifacts,
    RetentionOptions retention,
    ILogger<TenantVideosGrain> logger) : Grain, ITenantVideosGrain, IRemindable
{
    private const string SweepReminder = "sweep";
    private static readonly TimeSpan RefreshWait = TimeSpan.FromSeconds(1);
    private IGrainTimer? _sweeper;

    private string Tenant => this.GetPrimaryKeyString();
    private List<SessionSnapshot> Videos => state.State.Videos;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Videos.Count > 0) StartSweeper();
        return Task.CompletedTask;
    }

    public Task Add(SessionSnapshot video) => Update(video);

    public async Task Update(SessionSnapshot video)
    {
        if (!Merge(video)) return;
        if (!state.State.SweepScheduled)
        {
            // The reminder outlives this activation and this silo; the timer sweeps at the configured (possibly shorter) period.
            var period = retention.SweepPeriod < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : retention.SweepPeriod;
            await this.RegisterOrUpdateReminder(SweepReminder, period, period);
            state.State.SweepScheduled = true;
        }
        await state.WriteStateAsync();
        StartSweeper();
    }

    /// <summary>Takes <paramref name="video"/> unless the entry is as new already (its sequence number); whether it changed.</summary>
    private bool Merge(SessionSnapshot video)
    {
        var index = Videos.FindIndex(v => v.Key.Session == video.Key.Session);
        if (index >= 0 && Videos[index].Seq >= video.Seq) return false;
        if (index >= 0) Videos[index] = video;
        else Videos.Add(video);
        return true;
    }

    /// <summary>
    /// Unfinished entries asked of their records, within <see cref="RefreshWait"/>: updates are one-way and can be lost
    /// (a store outage, a silo gone), and a video must not stay listed as running, and so kept from expiring, for ever.
    /// Whether any entry changed; records that do not answer in time keep their entries.
    /// </summary>
    private async Task<bool> RefreshUnfinishedAsync(IEnumerable<SessionSnapshot> entries)
    {
        var reads = entries.Where(v => !v.IsFinished).Select(v => GrainFactory.GetGrain<IVideoGrain>(v.Key.VideoGrainKey).Get()).ToList();
        if (reads.Count == 0) return false;
        try
        {
            await Task.WhenAll(reads).WaitAsync(RefreshWait);
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
        }
        var changed = false;
        foreach (var read in reads)
            if (read.IsCompletedSuccessfully && read.Result is { } current) changed |= Merge(current);
        return changed;
    }

    public async Task Remove(string session)
    {
        if (Videos.RemoveAll(v => v.Key.Session == session) > 0) await state.WriteStateAsync();
    }

    public async Task<VideoPage> Page(string? after, int limit, bool ascending)
    {
        List<SessionSnapshot> Read()
        {
            IEnumerable<SessionSnapshot> ordered = ascending ? Videos : Enumerable.Reverse(Videos);
            if (after is not null) ordered = ordered.SkipWhile(v => v.Key.VideoId != after).Skip(1);
            return ordered.Take(limit + 1).ToList();
        }
        // Refreshed in memory only (a read-only call writes nothing; the next update or sweep stores it), then read again.
        await RefreshUnfinishedAsync(Read().Take(limit));
        var page = Read();
        return new VideoPage([.. page.Take(limit)], page.Count > limit);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status) => await Sweep();

    /// <summary>
    /// Expired videos go (their grains delete artifacts, record and entry); so do artifacts no video owns any more:
    /// folders of sessions not listed, chunk copies and loop heads of ended videos, and uploads no unfinished video
    /// names once they are older than the upload grace. A video that is queued or running is never touched.
    /// </summary>
    public async Task<SweepReport> Sweep()
    {
        if (await RefreshUnfinishedAsync(Videos.ToList())) await state.WriteStateAsync();
        var now = DateTimeOffset.UtcNow;
        var expired = new HashSet<string>();
        foreach (var video in Videos.Where(v => v.IsFinished && v.ExpiresAt <= now).ToList())
            if (await GrainFactory.GetGrain<IVideoGrain>(video.Key.VideoGrainKey).Delete() != DeleteOutcome.Unfinished) expired.Add(video.Key.Session);
        if (Videos.RemoveAll(v => expired.Contains(v.Key.Session)) > 0) await state.WriteStateAsync();
        var (live, ended) = (new HashSet<string>(), new HashSet<string>());
        var inputs = new HashSet<string>();
        foreach (var video in Videos)
        {
            (video.IsFinished ? ended : live).Add(video.Key.Session);
            if (!video.IsFinished) foreach (var input in video.Request.Inputs) if (input.Upload is { } upload) inputs.Add(upload);
        }
        var deleted = 0;
        foreach (var name in await artifacts.ListAsync(SessionArtifacts.Sessions(Tenant)))
        {
            var (session, working) = SessionArtifacts.Owner(name);
            // A running video keeps everything; an ended one keeps its outputs; one that is not listed keeps nothing.
            if (live.Contains(session) || (ended.Contains(session) && !working)) continue;
            await artifacts.DeleteAsync(name);
            deleted++;
        }
        foreach (var name in await artifacts.ListAsync(SessionArtifacts.Uploads(Tenant)))
        {
            if (inputs.Contains(name.Value) || SessionArtifacts.UploadedAt(name) is not { } at || now - at < retention.UploadGrace) continue;
            await artifacts.DeleteAsync(name);
            deleted++;
        }
        if (expired.Count + deleted > 0) LogSwept(Tenant, expired.Count, deleted);
        return new SweepReport(expired.Count, deleted);
    }

    private void StartSweeper() => _sweeper ??= this.RegisterGrainTimer(async () => await Sweep(),
        new GrainTimerCreationOptions(retention.SweepPeriod, retention.SweepPeriod) { KeepAlive = false, Interleave = false });

    [LoggerMessage(LogLevel.Information, "Tenant {Tenant}: swept {Expired} expired video(s) and {Deleted} orphaned artifact(s)")]
    private partial void LogSwept(string tenant, int expired, int deleted);
}
