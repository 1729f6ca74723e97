namespace Reel.Abstractions;

/// <summary>The silo metadata Reel sets (docs/contracts.md, "Silo metadata").</summary>
public static class SiloMetadataKeys
{
    /// <summary><c>model</c> for a model silo, <c>plain</c> otherwise.</summary>
    public const string Role = "reel.role";

    /// <summary>The pool a model silo serves.</summary>
    public const string Pool = "reel.pool";

    /// <summary>The hash of the weights a model silo loaded (<c>sha256:</c> + 64 hex digits), computed by the silo.</summary>
    public const string Weights = "reel.weights";

    public const string ModelRole = "model";
    public const string PlainRole = "plain";
}
