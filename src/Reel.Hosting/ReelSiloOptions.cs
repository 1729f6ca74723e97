using Reel.Abstractions;
using Reel.Gateway;
using Reel.Grains;

namespace Reel.Hosting;

/// <summary>
/// Everything a Reel silo process is configured by (docs/contracts.md, "reel silo"). Bound from the configuration
/// section <c>Reel</c> (environment <c>REEL__POOL=...</c>, .NET conventions); command-line flags override.
/// </summary>
public sealed class ReelSiloOptions
{
    /// <summary>Whether this silo holds the model and runs sessions. Default false (a plain silo).</summary>
    public bool Model { get; set; }

    /// <summary>The pool a model silo serves. Default <c>default</c>.</summary>
    public string Pool { get; set; } = "default";

    /// <summary>Redis connection string for clustering and grain state; null runs alone on localhost clustering with state in memory.</summary>
    public string? Redis { get; set; }

    /// <summary>Azure Blob Storage connection string for artifacts; null keeps them in <see cref="Artifacts"/>.</summary>
    public string? Blob { get; set; }

    /// <summary>The blob container artifacts go to. Default <c>reel</c>.</summary>
    public string BlobContainer { get; set; } = "reel";

    /// <summary>Folder for artifacts when no <see cref="Blob"/> is set. Default <c>$XDG_DATA_HOME/reel/artifacts</c> (~/.local/share/reel/artifacts).</summary>
    public string? Artifacts { get; set; }

    /// <summary>
    /// Folder for grain state on local disk when there is no <see cref="Redis"/> (ETag-checked files); null keeps it in
    /// memory. <c>reel serve</c> defaults it to <c>$XDG_DATA_HOME/reel/state</c>.
    /// </summary>
    public string? State { get; set; }

    public string ClusterId { get; set; } = "reel";
    public string ServiceId { get; set; } = "reel";

    /// <summary>The IP other silos and clients reach this one at (a pod's IP); null lets Orleans pick this host's address.</summary>
    public string? AdvertiseIp { get; set; }

    /// <summary>The silo's name in the cluster (Reel:SiloName; the Helm chart passes the pod name). Default: Orleans' own.</summary>
    public string? SiloName { get; set; }

    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Health (and later metrics and the HTTP API) listen here. Default 8080.</summary>
    public int HttpPort { get; set; } = 8080;

    /// <summary>Weights folder; null applies the one rule of docs/contracts.md (shipped tiny weights, else fresh).</summary>
    public string? Weights { get; set; }

    /// <summary>Configuration of fresh weights when no <see cref="Weights"/> is given.</summary>
    public string? Config { get; set; }

    public string Device { get; set; } = "cpu";
    /// <summary>float32, bfloat16, or <c>auto</c> (<see cref="Reel.Model.ModelRuntime.FasterDtype"/>): whichever this machine serves faster, measured at start. Default float32.</summary>
    public string Dtype { get; set; } = "float32";

    /// <summary>Torch threads of the model host. Default 1; set to the cores a model silo owns.</summary>
    public int Threads { get; set; } = 1;

    /// <summary>Sessions a model silo runs at once: their chunks' denoising steps are batched. Default 1.</summary>
    public int MaxSessions { get; set; } = 1;

    /// <summary>
    /// Chunks that take a denoising step together in one DiT pass. Default: 1 on a CPU (measured on a 2-core CPU, a
    /// batch gained at most 1.2× in the DiT and lost it again to the step's other work; docs/contracts.md, "Batching"),
    /// 8 on a GPU.
    /// </summary>
    public int? MaxBatch { get; set; }

    public int MaxBatchOrDefault => MaxBatch ?? (Device.StartsWith("cuda", StringComparison.Ordinal) ? 8 : 1);

    /// <summary>Whether this process also serves the HTTP API on its HTTP port (<c>reel serve</c> does). Default false.</summary>
    public bool Gateway { get; set; }

    /// <summary>The tenants file the gateway reads. Default <c>$XDG_CONFIG_HOME/reel/tenants.json</c>.</summary>
    public string? Tenants { get; set; }

    /// <summary>Hosts whose https URLs <c>input_reference[image_url]</c> may name (Reel:ImageUrlHosts:0, ...). Default none.</summary>
    public List<string> ImageUrlHosts { get; set; } = [];

    /// <summary>How often each tenant's account sweeps expired videos and orphaned artifacts (Reel:SweepPeriod). Default 10 min.</summary>
    public TimeSpan SweepPeriod { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The management port (Reel:ManagementPort): /metrics (Prometheus), POST /drain and the Orleans dashboard, and
    /// nothing else; never the HTTP port (health, the tenants' API). Default 9464.
    /// </summary>
    public int? ManagementPort { get; set; }

    public int ManagementPortOrDefault => ManagementPort ?? 9464;

    /// <summary>
    /// The address the management port listens on (Reel:ManagementAddress). Default 127.0.0.1: only this machine
    /// reaches /metrics and /drain until an operator opens it (the chart does, with an operator token).
    /// </summary>
    public string ManagementAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// The operator's token (Reel:OperatorToken, from a secret): POST /drain needs <c>Authorization: Bearer</c> with
    /// it. Without one, /drain is answered only to a caller on this machine.
    /// </summary>
    public string? OperatorToken { get; set; }

    /// <summary>Whether metrics carry tenant names (Reel:TenantMetrics). Default false: per pool only.</summary>
    public bool TenantMetrics { get; set; }

    /// <summary>How long a session waits out an unreachable Redis or blob store before its video fails (Reel:StoreOutageBudget). Default 10 min.</summary>
    public TimeSpan StoreOutageBudget { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a stopping model silo lets its sessions commit their chunk and move on (Reel:DrainTimeout). Default 5 min.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Orleans' dashboard on the management port at /dashboard (Reel:Dashboard). Default false.</summary>
    public bool Dashboard { get; set; }

    /// <summary>Whether webhooks may go to loopback and private addresses (Reel:WebhooksToPrivateAddresses). Default false.</summary>
    public bool WebhooksToPrivateAddresses { get; set; }

    /// <summary>The key content URLs are signed with, base64 of at least 32 bytes (Reel:ContentUrlKey; share it between gateway replicas). Default: a random key per process.</summary>
    public string? ContentUrlKey { get; set; }

    /// <summary>How long a signed content URL works (Reel:ContentUrlLifetime). Default 10 min.</summary>
    public TimeSpan ContentUrlLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a gateway read waits on the cluster or the artifact store before answering 503 (Reel:ReadTimeout). Default 2 s.</summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The gateway's settings from these options.</summary>
    public GatewayOptions GatewayOptions => new()
    {
        TenantsFile = Tenants ?? TenantDirectory.DefaultPath, ImageUrlHosts = ImageUrlHosts,
        ContentUrlKey = ContentUrlKey is { } key ? Convert.FromBase64String(key) : null, ContentUrlLifetime = ContentUrlLifetime,
        ReadTimeout = ReadTimeout,
    };

    /// <summary>Whether sessions move to another model silo of the pool after a commit: stay, balance or always. Default stay.</summary>
    public MigrationPolicy Migration { get; set; } = MigrationPolicy.Stay;

    /// <summary>
    /// A pause in every denoising step, so a test can act while a chunk runs. Never configuration: a private setter the
    /// configuration binder cannot reach, set by <see cref="SlowStepsForTests"/> (the CLI's hidden
    /// <c>--test-step-delay</c>) only.
    /// </summary>
    public TimeSpan StepDelay { get; private set; } = TimeSpan.Zero;

    /// <summary>Tests only: pauses every denoising step by <paramref name="delay"/>.</summary>
    public ReelSiloOptions SlowStepsForTests(TimeSpan delay)
    {
        StepDelay = delay;
        return this;
    }

    /// <summary>Throws a <see cref="ReelConfigurationException"/> naming the first setting that cannot work.</summary>
    public void Validate()
    {
        if (!Abstractions.SessionKey.IsValidPool(Pool)) throw new ReelConfigurationException($"Pool '{Pool}' is not 1-32 lowercase letters, digits and '-'.");
        var keyBytes = new byte[64];
        if (ContentUrlKey is { } key && !(Convert.TryFromBase64String(key, keyBytes, out var length) && length >= 32))
            throw new ReelConfigurationException("Reel:ContentUrlKey must be base64 of 32 to 64 bytes.");
        if (!(ContentUrlLifetime > TimeSpan.Zero)) throw new ReelConfigurationException("Reel:ContentUrlLifetime must be positive.");
        if (!(ReadTimeout > TimeSpan.Zero)) throw new ReelConfigurationException("Reel:ReadTimeout must be positive.");
        if (!(DrainTimeout > TimeSpan.Zero)) throw new ReelConfigurationException("--drain-timeout must be positive.");
        if (!(StoreOutageBudget > TimeSpan.Zero)) throw new ReelConfigurationException("Reel:StoreOutageBudget must be positive.");
        if (ManagementPortOrDefault == HttpPort)
            throw new ReelConfigurationException("The management port must differ from the HTTP port: whoever reaches health or the API must not reach /metrics or /drain.");
        if (!System.Net.IPAddress.TryParse(ManagementAddress, out _))
            throw new ReelConfigurationException($"Reel:ManagementAddress '{ManagementAddress}' is not an IP address.");
        if (OperatorToken is { Length: < 16 }) throw new ReelConfigurationException("Reel:OperatorToken must be at least 16 characters.");
        if (MaxSessions < 1) throw new ReelConfigurationException($"Max sessions must be at least 1, got {MaxSessions}.");
        if (MaxBatch is < 1) throw new ReelConfigurationException($"Max batch must be at least 1, got {MaxBatch}.");
        if (Threads < 1) throw new ReelConfigurationException($"Threads must be at least 1, got {Threads}.");
        foreach (var (name, port) in new[] { ("silo", SiloPort), ("gateway", GatewayPort), ("HTTP", HttpPort), ("management", ManagementPortOrDefault) })
            if (port is < 0 or > 65535) throw new ReelConfigurationException($"The {name} port must be 0-65535, got {port}.");
        if (AdvertiseIp is not null && !System.Net.IPAddress.TryParse(AdvertiseIp, out _))
            throw new ReelConfigurationException($"Advertise IP '{AdvertiseIp}' is not an IP address.");
        if (Blob is not null && Artifacts is not null) throw new ReelConfigurationException("Give blob storage or an artifacts folder, not both.");
        if (Redis is not null && State is not null) throw new ReelConfigurationException("Give Redis or a state folder, not both.");
    }

    public string ArtifactsFolder => Artifacts ?? DataFolder("artifacts");

    /// <summary>A folder under <c>$XDG_DATA_HOME/reel</c> (~/.local/share/reel).</summary>
    public static string DataFolder(string name) => Path.Combine(
        Environment.GetEnvironmentVariable("XDG_DATA_HOME") is { Length: > 0 } data ? data
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share"),
        "reel", name);
}

/// <summary>A silo setting that cannot work; the message names it.</summary>
public sealed class ReelConfigurationException(string message) : Exception(message);
