using BigDataAI.Protos.Ingestion.V1;
using Google.Protobuf;
using Grpc.Core;

namespace BigDataAI.Client;

/// <summary>Streaming appends (AppendRows): a session per dataset and producer that numbers the batches itself.</summary>
public static class AppendRowsClientExtensions
{
    /// <summary>
    /// Opens an AppendRows call for <paramref name="producer"/> on <paramref name="dataset"/>; the session's next
    /// sequence is the one the service expects (so a restarted producer resumes after its last stored batch).
    /// </summary>
    public static async Task<AppendRowsSession> StartAppendAsync(this IngestionService.IngestionServiceClient client, string dataset, string producer, CancellationToken cancellationToken = default)
    {
        var call = client.AppendRows(cancellationToken: cancellationToken);
        try
        {
            await call.RequestStream.WriteAsync(new AppendRowsRequest { Start = new AppendStart { Dataset = dataset, Producer = producer } }, cancellationToken).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false) || call.ResponseStream.Current.KindCase != AppendRowsReply.KindOneofCase.Started)
            {
                throw new InvalidOperationException("AppendRows answered the start without an AppendStarted.");
            }
            return new AppendRowsSession(call, call.ResponseStream.Current.Started);
        }
        catch
        {
            call.Dispose();
            throw;
        }
    }

    public static Cell Int64(long value) => new() { Int64Value = value };
    public static Cell Double(double value) => new() { DoubleValue = value };
    public static Cell Bool(bool value) => new() { BoolValue = value };
    public static Cell String(string value) => new() { StringValue = value };
    public static Cell Timestamp(DateTimeOffset value) => new() { TimestampMicros = (value.UtcTicks - DateTime.UnixEpoch.Ticks) / 10 };
    public static Cell Binary(ReadOnlySpan<byte> value) => new() { BinaryValue = ByteString.CopyFrom(value) };
    public static Cell Tensor(IEnumerable<float> values) => new() { TensorValue = new Tensor { Values = { values } } };

    /// <summary>One row from (column, cell) pairs.</summary>
    public static AppendRow Row(params (string Column, Cell Cell)[] cells)
    {
        var row = new AppendRow();
        foreach (var (column, cell) in cells)
        {
            row.Cells[column] = cell;
        }
        return row;
    }
}

/// <summary>An open AppendRows call: each <see cref="AppendAsync"/> sends the next batch and waits for its acknowledgement.</summary>
public sealed class AppendRowsSession : IDisposable
{
    private readonly AsyncDuplexStreamingCall<AppendRowsRequest, AppendRowsReply> _call;

    internal AppendRowsSession(AsyncDuplexStreamingCall<AppendRowsRequest, AppendRowsReply> call, AppendStarted started)
    {
        _call = call;
        Started = started;
        NextSequence = started.NextSequence;
    }

    /// <summary>What the service said at the start: the version the rows are typed by, its columns, the next sequence.</summary>
    public AppendStarted Started { get; }

    /// <summary>The sequence the next <see cref="AppendAsync"/> sends.</summary>
    public long NextSequence { get; private set; }

    /// <summary>Sends <paramref name="rows"/> as batch <see cref="NextSequence"/> (or <paramref name="sequence"/>, to resend one) and returns its acknowledgement, once it is stored.</summary>
    /// <exception cref="RpcException">The service refused the batch or storage failed; the call is over then.</exception>
    public async Task<AppendAck> AppendAsync(IEnumerable<AppendRow> rows, long? sequence = null, CancellationToken cancellationToken = default)
    {
        var batch = new AppendBatch { Sequence = sequence ?? NextSequence };
        batch.Rows.AddRange(rows);
        try
        {
            await _call.RequestStream.WriteAsync(new AppendRowsRequest { Batch = batch }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or RpcException)
        {
            // The service ended the call (it refused an earlier message): its status says why.
            await ThrowStatusAsync(cancellationToken).ConfigureAwait(false);
            throw;
        }
        if (!await _call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            throw new RpcException(_call.GetStatus());
        }
        var ack = _call.ResponseStream.Current.Ack ?? throw new InvalidOperationException("AppendRows answered a batch without an AppendAck.");
        if (ack.Sequence >= NextSequence)
        {
            NextSequence = ack.Sequence + 1;
        }
        return ack;
    }

    /// <summary>Ends the call cleanly (every sent batch was acknowledged already).</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        await _call.RequestStream.CompleteAsync().ConfigureAwait(false);
        while (await _call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
        }
    }

    private async Task ThrowStatusAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await _call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
            }
        }
        catch (RpcException)
        {
            throw;
        }
    }

    public void Dispose() => _call.Dispose();
}
