using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Storage;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// An ITestOutputHelper that forwards to the output of the test running now, so a host shared by a test class logs
/// into whichever test is using it (and drops lines between tests).
/// </summary>
public sealed class SwitchableOutput : ITestOutputHelper
{
    private volatile ITestOutputHelper? _target;

    public IDisposable Use(ITestOutputHelper output)
    {
        _target = output;
        return new Reset(this);
    }

    public void WriteLine(string message) => _target?.WriteLine(message);

    public void WriteLine(string format, params object[] args) => _target?.WriteLine(format, args);

    private sealed class Reset(SwitchableOutput owner) : IDisposable
    {
        public void Dispose() => owner._target = null;
    }
}

/// <summary>One ingestion host for a whole test class (class fixture): the many bad-input cases share it.</summary>
public sealed class IngestionHostFixture(ServersFixture servers) : IAsyncLifetime
{
    public SwitchableOutput Output { get; } = new();

    public ServiceHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await ServiceHost.StartAsync(servers, Output, Modules.Ingestion);

    public async Task DisposeAsync()
    {
        if (Host is not null)
        {
            await Host.DisposeAsync();
        }
    }
}

/// <summary>
/// Holds reads of objects whose path contains <see cref="PathPart"/> until <see cref="Open"/> is called, so a test can
/// take its position (e.g. start watching a job) before the work behind that read goes on. Everything else passes
/// straight to the real store.
/// </summary>
public sealed class ObjectStoreGate(string pathPart)
{
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string PathPart { get; } = pathPart;

    public void Open() => _opened.TrySetResult();

    internal Task WaitAsync(string path, CancellationToken cancellationToken) =>
        path.Contains(PathPart, StringComparison.Ordinal) ? _opened.Task.WaitAsync(cancellationToken) : Task.CompletedTask;
}

/// <summary>The real object store behind an <see cref="ObjectStoreGate"/> on reads.</summary>
public sealed class GatedObjectStore(IObjectStore inner, ObjectStoreGate gate) : IObjectStore
{
    public string Location => inner.Location;

    public Task<bool> TryCreateAsync(string path, Stream content, CancellationToken cancellationToken = default) => inner.TryCreateAsync(path, content, cancellationToken);

    public Task PutAsync(string path, Stream content, CancellationToken cancellationToken = default) => inner.PutAsync(path, content, cancellationToken);

    public async Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken = default)
    {
        await gate.WaitAsync(path, cancellationToken);
        return await inner.OpenReadAsync(path, cancellationToken);
    }

    public IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default) => inner.ExistsAsync(path, cancellationToken);

    public Task DeleteAsync(string path, CancellationToken cancellationToken = default) => inner.DeleteAsync(path, cancellationToken);

    public Task PutAsync(string path, Stream content, ObjectLease lease, CancellationToken cancellationToken = default) => inner.PutAsync(path, content, lease, cancellationToken);

    public Task<ObjectLease?> TryAcquireLeaseAsync(string path, TimeSpan duration, CancellationToken cancellationToken = default) => inner.TryAcquireLeaseAsync(path, duration, cancellationToken);

    public Task RenewLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default) => inner.RenewLeaseAsync(lease, cancellationToken);

    public Task ReleaseLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default) => inner.ReleaseLeaseAsync(lease, cancellationToken);
}
