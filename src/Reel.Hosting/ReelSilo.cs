using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Reel.Abstractions;
using Reel.Grains;
using Reel.Inference;
using Reel.Model;
using Reel.Storage;
using StackExchange.Redis;

namespace Reel.Hosting;

public static class ReelSilo
{
    /// <summary>
    /// What every Reel silo has (placement, metadata, grain storage, artifact store) and, for a model silo, the model
    /// host, its slots and its load reports. Clustering and endpoints are the caller's: a process sets them from
    /// <see cref="ReelSiloOptions"/>, the test cluster sets its own.
    /// </summary>
    public static ISiloBuilder AddReel(this ISiloBuilder silo, ReelSiloOptions options)
    {
        options.Validate();
        ReelTelemetry.TenantLabels = options.TenantMetrics;
        var metadata = new Dictionary<string, string>
        {
            [SiloMetadataKeys.Role] = options.Model ? SiloMetadataKeys.ModelRole : SiloMetadataKeys.PlainRole,
        };
        if (options.Model)
        {
            // Computed from the folder the model host loads, never typed in by an operator.
            var weightsHash = ModelSource.WeightsHash(options.Weights, options.Config);
            var faster = options.Dtype == ModelRuntime.FasterDtype;
            var runtime = new ModelRuntime(options.Device, faster ? TorchSharp.torch.ScalarType.Float32 : ModelRuntime.ParseDtype(options.Dtype));
            runtime.ResolveDevice();
            metadata[SiloMetadataKeys.Pool] = options.Pool;
            metadata[SiloMetadataKeys.Weights] = weightsHash;
            silo.Services.AddSingleton(new ModelHostOptions
            {
                Weights = options.Weights, Config = options.Config, Runtime = runtime, Threads = options.Threads,
                MaxBatch = options.MaxBatchOrDefault, FasterDtype = faster,
            });
            silo.Services.AddSingleton(sp => new ModelHost(sp.GetRequiredService<ModelHostOptions>()));
            silo.Services.AddSingleton(new ModelSiloOptions
            {
                Pool = options.Pool, MaxSessions = options.MaxSessions, WeightsHash = weightsHash, StepDelay = options.StepDelay,
                Migration = options.Migration, StoreOutageBudget = options.StoreOutageBudget,
            });
            silo.Services.AddSingleton<ModelSiloSlots>();
            silo.Services.AddSingleton<StoreOutages>();
            silo.Services.AddSingleton<ModelSiloDrain>();
            silo.Services.AddHostedService<ModelSiloSupervisor>();
        }
        silo.UseSiloMetadata(metadata);
        silo.AddPlacementDirector<ModelSessionPlacement, ModelSessionPlacementDirector>();
        if (options.Redis is { } redis)
        {
            silo.AddRedisGrainStorage(ReelStorage.Name, o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
            silo.UseRedisReminderService(o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
        }
        else
        {
            if (options.State is { } folder)
                silo.Services.AddGrainStorage(ReelStorage.Name, (sp, _) => new FileGrainStorage(folder, sp.GetRequiredService<Serializer>()));
            else
                silo.AddMemoryGrainStorage(ReelStorage.Name);
            // Reminders are only the backstop: without Redis, the index scan at start resumes what a restart interrupted.
            silo.UseInMemoryReminderService();
        }
        silo.Services.AddArtifactStore(options);
        silo.Services.AddSingleton(new RetentionOptions { SweepPeriod = options.SweepPeriod });
        silo.Services.AddSingleton(new WebhookOptions { AllowPrivateAddresses = options.WebhooksToPrivateAddresses });
        silo.Services.AddSingleton<WebhookSender>();
        return silo;
    }

    /// <summary>The artifact store the options name: blob storage, else a folder.</summary>
    public static IServiceCollection AddArtifactStore(this IServiceCollection services, ReelSiloOptions options) =>
        options.Blob is { } blob
            ? services.AddSingleton<IArtifactStore>(_ => BlobArtifactStore.Connect(blob, options.BlobContainer))
            : services.AddSingleton<IArtifactStore>(new FolderArtifactStore(options.ArtifactsFolder));
}
