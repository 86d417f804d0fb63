namespace BigDataAI.Storage;

/// <summary>
/// A time-limited claim on one object, as an Azure blob lease: while it is active nobody else can take a lease on the
/// object, and the object can be replaced or deleted only by passing the lease. The holder keeps it by renewing it
/// within <see cref="Duration"/>; a holder that dies loses it when the duration lapses.
/// </summary>
/// <param name="Path">The leased object.</param>
/// <param name="Id">The lease id the store issued.</param>
/// <param name="Duration">How long the lease lasts after each acquire or renew.</param>
public sealed record ObjectLease(string Path, string Id, TimeSpan Duration)
{
    /// <summary>Shortest lease Azure Blob Storage grants.</summary>
    public static readonly TimeSpan MinimumAzureDuration = TimeSpan.FromSeconds(15);

    /// <summary>Longest finite lease Azure Blob Storage grants.</summary>
    public static readonly TimeSpan MaximumAzureDuration = TimeSpan.FromSeconds(60);
}

/// <summary>The lease is no longer ours: it lapsed and someone else took one, or it was released.</summary>
public sealed class LeaseLostException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>A write or delete without the lease hit an object someone else holds a lease on.</summary>
public sealed class ObjectLeasedException(string message, Exception? inner = null) : IOException(message, inner);
