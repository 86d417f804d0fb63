using System.Diagnostics;
using BigDataAI.Protos.Inference.V1;
using Grpc.Core;

namespace BigDataAI.Client;

/// <summary>The inference flow every caller needs after training: wait until a model is served.</summary>
public static class InferenceClientExtensions
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestDelay = TimeSpan.FromSeconds(1);
    private const string NoAnswer = "none";

    /// <summary>
    /// Polls GetModel(<paramref name="model"/>) until it answers with <paramref name="modelId"/> in memory
    /// (<c>loaded_at</c> set), backing off from 50 ms to 1 s, and returns that answer. UNAVAILABLE (nothing registered
    /// yet, storage away) and NOT_FOUND (the name not known yet), or another model under the name, mean "not yet"; other
    /// statuses (INVALID_ARGUMENT: no name given while several are registered) are thrown. Polled, because the swap
    /// happens inside the inference replica when the registration reaches it, and nothing announces it to callers.
    /// </summary>
    /// <param name="model">"name" waits until the name's newest version is <paramref name="modelId"/> and loaded (a newest
    /// version is loaded on registration); "name@version" waits for that version to be in memory, which for an older
    /// version happens only once a Predict asked for it; empty means the only name registered.</param>
    /// <param name="modelId">The model expected, e.g. the <c>model_id</c> of the job that trained it.</param>
    /// <exception cref="TimeoutException">Not served within <paramref name="timeout"/>; the message names the model, the name and the last answer.</exception>
    public static async Task<ServedModel> WaitUntilServedAsync(this InferenceService.InferenceServiceClient client, string model, string modelId, TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        var waited = Stopwatch.StartNew();
        var deadline = DateTime.UtcNow + timeout;
        var delay = FirstDelay;
        var last = NoAnswer;
        while (true)
        {
            try
            {
                var served = await client.GetModelAsync(new GetModelRequest { Model = model }, deadline: deadline, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (served.ModelId == modelId && served.LoadedAt.Length > 0)
                {
                    return served;
                }
                last = served.ModelId == modelId ? $"{modelId} is registered but not loaded" : $"'{served.Name}' is {served.ModelId}";
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.NotFound && !cancellationToken.IsCancellationRequested)
            {
                last = $"{e.StatusCode}: {e.Status.Detail}";
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded && !cancellationToken.IsCancellationRequested)
            {
                // The call ran into the end of the wait: the answer before it says more.
                last = last == NoAnswer ? "GetModel did not answer in time" : last;
            }
            var rest = timeout - waited.Elapsed;
            if (rest <= TimeSpan.Zero)
            {
                throw new TimeoutException($"Inference did not serve model {modelId} as {(model.Length > 0 ? $"'{model}'" : "the only name")} within {timeout.TotalSeconds:0.#} s (last answer: {last}).");
            }
            await Task.Delay(delay < rest ? delay : rest, cancellationToken).ConfigureAwait(false);
            delay = delay * 2 < LongestDelay ? delay * 2 : LongestDelay;
        }
    }
}
