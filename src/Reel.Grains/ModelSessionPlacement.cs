using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;
using Reel.Abstractions;

namespace Reel.Grains;

/// <summary>Places a session on a model silo of the pool named in its key, holding the weights named there.</summary>
[GenerateSerializer, Immutable]
public sealed class ModelSessionPlacement : PlacementStrategy;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ModelSessionPlacementAttribute() : PlacementAttribute(new ModelSessionPlacement());

/// <summary>Thrown when a session's pool has no live model silo with its weights.</summary>
[GenerateSerializer]
public sealed class NoModelSiloException(string message) : OrleansException(message);

/// <summary>
/// Reads pool and weights version from the session key (placement runs before state is loaded), keeps the model
/// silos whose metadata match, honours a caller's placement hint among them (a deliberate move names its target),
/// and otherwise picks one that is not draining with the fewest running sessions in the loads the pool's silos publish.
/// </summary>
public sealed class ModelSessionPlacementDirector(ISiloMetadataCache metadata, IGrainFactory grains) : IPlacementDirector
{
    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = SessionKey.Parse(target.GrainIdentity.Key.ToString()!);
        var candidates = context.GetCompatibleSilos(target).Where(silo => Serves(silo, key)).ToArray();
        if (candidates.Length == 0)
            throw new NoModelSiloException($"No model silo of pool '{key.Pool}' holds weights '{key.Weights}'.");
        if (IPlacementDirector.GetPlacementHint(target.RequestContextData, candidates) is { } hint) return hint;
        if (candidates.Length == 1) return candidates[0];
        var loads = await grains.GetGrain<IPoolGrain>(key.Pool).Loads();
        // A draining silo takes nothing new; only when every candidate drains does the least loaded one get it.
        return candidates.OrderBy(silo => loads.FirstOrDefault(l => l.Silo.Equals(silo))?.Draining == true)
            .ThenBy(silo => loads.FirstOrDefault(l => l.Silo.Equals(silo))?.Running.Count ?? 0).First();
    }

    private bool Serves(SiloAddress silo, SessionKey key)
    {
        var values = metadata.GetSiloMetadata(silo).Metadata;
        return values.GetValueOrDefault(SiloMetadataKeys.Role) == SiloMetadataKeys.ModelRole
            && values.GetValueOrDefault(SiloMetadataKeys.Pool) == key.Pool
            && values.GetValueOrDefault(SiloMetadataKeys.Weights) is { } hash && WeightsVersion.Matches(key.Weights, hash);
    }
}
