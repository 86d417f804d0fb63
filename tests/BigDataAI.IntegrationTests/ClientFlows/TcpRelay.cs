using System.Net;
using System.Net.Sockets;

namespace BigDataAI.IntegrationTests.ClientFlows;

/// <summary>
/// A loopback TCP relay in front of a server, so a test can break a client's connections the way a dropped network
/// or a restarted proxy does: <see cref="CutAll"/> resets every relayed connection at once; connections made after
/// it are relayed again.
/// </summary>
internal sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<(Socket Client, Socket Server)> _open = [];
    private readonly List<(int Count, TaskCompletionSource Signal)> _waiters = [];
    private readonly Task _accepting;
    private int _accepted;

    /// <param name="target">The server's address, e.g. http://127.0.0.1:5000.</param>
    public TcpRelay(string target)
    {
        var uri = new Uri(target);
        _target = new IPEndPoint(IPAddress.Parse(uri.Host), uri.Port);
        _listener.Start();
        Address = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _accepting = AcceptAsync();
    }

    /// <summary>The relay's own address: give it to the client instead of the server's.</summary>
    public string Address { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Completes once <paramref name="count"/> connections have been accepted in all.</summary>
    public Task WaitForConnectionsAsync(int count, TimeSpan timeout)
    {
        lock (_lock)
        {
            if (_accepted >= count)
            {
                return Task.CompletedTask;
            }
            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, signal));
            return signal.Task.WaitAsync(timeout);
        }
    }

    /// <summary>Resets (TCP RST) every connection relayed now, on both sides.</summary>
    public void CutAll()
    {
        List<(Socket Client, Socket Server)> open;
        lock (_lock)
        {
            open = [.. _open];
            _open.Clear();
        }
        foreach (var (client, server) in open)
        {
            Reset(client);
            Reset(server);
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            client.NoDelay = true;
            try
            {
                await server.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                Reset(client);
                server.Dispose();
                continue;
            }
            List<TaskCompletionSource> reached = [];
            lock (_lock)
            {
                _open.Add((client, server));
                _accepted++;
                foreach (var waiter in _waiters.Where(w => _accepted >= w.Count).ToList())
                {
                    reached.Add(waiter.Signal);
                    _waiters.Remove(waiter);
                }
            }
            foreach (var signal in reached)
            {
                signal.TrySetResult();
            }
            _ = PumpAsync(client, server);
            _ = PumpAsync(server, client);
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Cut, or the other side went away: the pump in the other direction sees it too.
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0); // close with RST, as a dropped connection looks to its peer
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        CutAll();
        await _accepting.ConfigureAwait(false);
        _stop.Dispose();
    }
}
