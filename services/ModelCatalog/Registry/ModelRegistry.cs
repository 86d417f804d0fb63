using System.Text.Json;
using BigDataAI.Datasets;
using BigDataAI.Models.Features;
using BigDataAI.Storage;

namespace BigDataAI.Models.Registry;

/// <summary>
/// A registered model: its architecture description, where its weights are, what it was trained on and how it
/// scored on the test split. Enough for any service to rebuild and serve it.
/// </summary>
/// <param name="ModelId">Unique id; also the folder name under <c>models/</c>.</param>
/// <param name="Spec">The architecture, rebuilt with <c>ModelFactory</c> (BigDataAI.Models).</param>
/// <param name="WeightsPath">Object-store path of the weights (TorchSharp's Module.save format).</param>
/// <param name="Dataset">Name of the dataset it was trained on.</param>
/// <param name="DatasetVersion">Version of that dataset.</param>
/// <param name="Classes">Class names, indexed by the model's output.</param>
/// <param name="FeatureShape">Shape of one input.</param>
/// <param name="TestAccuracy">Accuracy on the held-out test split.</param>
/// <param name="MetricsJson">The full test-split evaluation as JSON (per-class precision, recall, F1, confusion matrix).</param>
/// <param name="JobId">The training job that produced it.</param>
/// <param name="CreatedAt">When it was registered.</param>
public sealed record ModelRecord(
    string ModelId,
    ModelSpec Spec,
    string WeightsPath,
    string Dataset,
    int DatasetVersion,
    string[] Classes,
    int[] FeatureShape,
    double TestAccuracy,
    JsonElement MetricsJson,
    string JobId,
    DateTimeOffset CreatedAt)
{
    /// <summary>The model's name (default: its dataset's name); with <see cref="ModelVersion"/> it names the model to Predict.</summary>
    public string? Name { get; init; }

    /// <summary>The model's version under its name: 1, 2, ... in registration order; 0 for models registered before names existed.</summary>
    public int ModelVersion { get; init; }

    /// <summary>How the model's input is made from raw columns; null for models registered before typed datasets (dense input only).</summary>
    public FeaturePipeline? Features { get; init; }

    /// <summary>The training epoch whose weights these are (the best validation score); null without validation data or for older records.</summary>
    public int? BestEpoch { get; init; }

    /// <summary>Early stopping ended its training before the job's epochs.</summary>
    public bool StoppedEarly { get; init; }

    /// <summary>
    /// Other versions of its name scored on this model's test split when it was registered (the alias holders of that
    /// moment and the newest earlier version), so a promotion gate compares both on the same rows.
    /// </summary>
    public IReadOnlyList<ModelComparison> Comparisons { get; init; } = [];

    /// <summary>
    /// The W3C trace parent of the training run that registered it (null for older records), so that loading it joins
    /// the trace of its upload, training and announcement however the loader came to it (the ModelTrained message or
    /// the reconcile loop).
    /// </summary>
    public string? TraceParent { get; init; }

    /// <summary>The name it is served under: <see cref="Name"/>, or the dataset's name for older records.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string ServedName => Name ?? Dataset;

    /// <summary><c>name@version</c>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Reference => $"{ServedName}@{ModelVersion}";
}

/// <summary>
/// Another model's score on a model's test split (accuracy, or R² for a regression); <see cref="Error"/> says why it could
/// not be measured (then <see cref="Score"/> is null).
/// </summary>
public sealed record ModelComparison(string ModelId, int ModelVersion, double? Score, string? Error = null);

/// <summary>
/// One move of an alias: which version of the name it points to from now on, and why. Stored create-only as
/// <c>model-names/{name}/aliases/{alias}/m{sequence:000000}.json</c>; the highest sequence is the alias's holder.
/// </summary>
/// <param name="Name">The model name.</param>
/// <param name="Alias">The alias, e.g. "production".</param>
/// <param name="Sequence">1, 2, ... per alias.</param>
/// <param name="ModelVersion">The version it points to; 0 when the move deleted the alias.</param>
/// <param name="ModelId">That version's model id ("" when deleted).</param>
/// <param name="PreviousVersion">The version it pointed to before (0: none).</param>
/// <param name="Action">"promote" (passed the gate), "force" (promoted without it), "first" (the alias's first holder, nothing to beat), "rollback" or "delete".</param>
/// <param name="CandidateScore">The gate's figures: the new holder's score on its test split...</param>
/// <param name="HolderScore">...and the old holder's on the same split (null when no gate ran).</param>
/// <param name="Margin">The margin the gate asked for.</param>
/// <param name="At">When.</param>
public sealed record AliasMove(
    string Name,
    string Alias,
    int Sequence,
    int ModelVersion,
    string ModelId,
    int PreviousVersion,
    string Action,
    double? CandidateScore,
    double? HolderScore,
    double Margin,
    DateTimeOffset At)
{
    /// <summary>Who asked for the move, when known (a user or client name; empty otherwise).</summary>
    public string By { get; init; } = "";

    /// <summary>Free text given with the move.</summary>
    public string Reason { get; init; } = "";
}

/// <summary>
/// The model registry in the object store: <c>models/{id}/weights-{sha}.pt</c> first, then <c>models/{id}/model.json</c>
/// (create-only), so a model is visible only when it is whole, and registering the same id twice keeps the first record
/// together with the weights it names.
/// </summary>
public sealed class ModelRegistry(IObjectStore store)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Where version claims live: <c>model-names/{name}/v{version:000000}.json</c>, each naming one model id.</summary>
    public const string NamesRoot = "model-names/";

    /// <summary>Where an alias's moves live.</summary>
    public static string AliasFolder(string name, string alias) => $"{NamesRoot}{name}/aliases/{alias}/";

    /// <summary>Path of a model's tags (mutable: the record itself never changes).</summary>
    public static string TagsPath(string modelId) => $"models/{modelId}/tags.json";

    /// <summary>Path of a model's registry entry.</summary>
    public static string RecordPath(string modelId) => $"models/{modelId}/model.json";

    /// <summary>Path of a model's weights: <c>models/{id}/weights-{sha256[..16]}.pt</c>.</summary>
    public static string WeightsPath(string modelId, ReadOnlySpan<byte> weights) =>
        $"models/{modelId}/weights-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(weights))[..16]}.pt";

    /// <summary>Stores the weights, then the record (its <see cref="ModelRecord.WeightsPath"/> is set here). Returns the stored
/// record: an earlier registration of the same id wins.</summary>
    public async Task<ModelRecord> RegisterAsync(ModelRecord record, byte[] weights, CancellationToken cancellationToken = default)
    {
        var name = record.Name ?? record.Dataset;
        if (!DatasetPaths.IsValidName(name))
        {
            throw new ArgumentException($"Model name '{name}' is invalid: use 1-64 characters of lower-case letters, digits and '-', starting with a letter.");
        }
        // The weights' path names their content, so an abandoned earlier attempt (weights written, record not) can never
        // leave a record pointing at weights other than its own.
        record = record with { Name = name, WeightsPath = WeightsPath(record.ModelId, weights) };
        using (var content = new MemoryStream(weights, writable: false))
        {
            await store.PutAsync(record.WeightsPath, content, cancellationToken).ConfigureAwait(false);
        }
        if (await GetAsync(record.ModelId, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            return existing;
        }
        record = record with { ModelVersion = await ClaimVersionAsync(name, record.ModelId, cancellationToken).ConfigureAwait(false) };
        using (var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(record, Json), writable: false))
        {
            if (await store.TryCreateAsync(RecordPath(record.ModelId), content, cancellationToken).ConfigureAwait(false))
            {
                return record;
            }
        }
        return await GetAsync(record.ModelId, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Model '{record.ModelId}' vanished while being registered.");
    }

    /// <summary>
    /// The version of <paramref name="modelId"/> under <paramref name="name"/>: the one an earlier attempt claimed, or the
    /// next free number, claimed create-only (two registrations at once get different numbers).
    /// </summary>
    private async Task<int> ClaimVersionAsync(string name, string modelId, CancellationToken cancellationToken)
    {
        var claims = await ListClaimsAsync(name, cancellationToken).ConfigureAwait(false);
        var mine = claims.FindIndex(c => c.ModelId == modelId);
        if (mine >= 0)
        {
            return claims[mine].Version;
        }
        var next = claims.Count == 0 ? 1 : claims.Max(c => c.Version) + 1;
        while (true)
        {
            using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(new VersionClaim(modelId), Json), writable: false);
            if (await store.TryCreateAsync($"{NamesRoot}{name}/v{next:D6}.json", content, cancellationToken).ConfigureAwait(false))
            {
                return next;
            }
            next++;
        }
    }

    /// <summary>The highest version claimed under <paramref name="name"/> (a listing only), or 0.</summary>
    public async Task<int> NewestVersionAsync(string name, CancellationToken cancellationToken = default)
    {
        var newest = 0;
        var prefix = $"{NamesRoot}{name}/v";
        await foreach (var path in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (path.EndsWith(".json", StringComparison.Ordinal)
                && int.TryParse(path.AsSpan(prefix.Length, path.Length - prefix.Length - ".json".Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version))
            {
                newest = Math.Max(newest, version);
            }
        }
        return newest;
    }

    private async Task<List<(int Version, string ModelId)>> ListClaimsAsync(string name, CancellationToken cancellationToken)
    {
        var claims = new List<(int, string)>();
        var prefix = $"{NamesRoot}{name}/v";
        await foreach (var path in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (!path.EndsWith(".json", StringComparison.Ordinal)
                || !int.TryParse(path.AsSpan(prefix.Length, path.Length - prefix.Length - ".json".Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version))
            {
                continue;
            }
            await using var stream = await store.OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
            if (stream is not null && await JsonSerializer.DeserializeAsync<VersionClaim>(stream, Json, cancellationToken).ConfigureAwait(false) is { } claim)
            {
                claims.Add((version, claim.ModelId));
            }
        }
        return claims;
    }

    private sealed record VersionClaim(string ModelId);

    /// <summary>
    /// Appends a move of <paramref name="move"/>'s alias, create-only, as sequence <paramref name="move"/>.Sequence (the
    /// current holder's sequence + 1). Returns false when another move took that sequence first: read the alias again and
    /// decide anew.
    /// </summary>
    public async Task<bool> TryMoveAliasAsync(AliasMove move, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(move);
        if (!DatasetPaths.IsValidName(move.Alias))
        {
            throw new ArgumentException($"Alias '{move.Alias}' is invalid: use 1-64 characters of lower-case letters, digits and '-', starting with a letter.");
        }
        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(move, Json), writable: false);
        return await store.TryCreateAsync($"{AliasFolder(move.Name, move.Alias)}m{move.Sequence:D6}.json", content, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every move of an alias, oldest first (empty for an alias never set).</summary>
    public async Task<IReadOnlyList<AliasMove>> AliasHistoryAsync(string name, string alias, CancellationToken cancellationToken = default)
    {
        var moves = new List<AliasMove>();
        await foreach (var path in store.ListAsync(AliasFolder(name, alias), cancellationToken).ConfigureAwait(false))
        {
            if (await ReadMoveAsync(path, cancellationToken).ConfigureAwait(false) is { } move)
            {
                moves.Add(move);
            }
        }
        return [.. moves.OrderBy(m => m.Sequence)];
    }

    /// <summary>
    /// The current holder of every alias (the newest move of each; a deleted alias is left out), by name then alias. Reads
    /// one move per alias: the listing finds the newest.
    /// </summary>
    public async Task<IReadOnlyList<AliasMove>> CurrentAliasesAsync(string? name = null, CancellationToken cancellationToken = default)
    {
        var newest = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var path in store.ListAsync(name is null ? NamesRoot : $"{NamesRoot}{name}/aliases/", cancellationToken).ConfigureAwait(false))
        {
            var folder = path.LastIndexOf('/');
            if (!path.Contains("/aliases/", StringComparison.Ordinal) || !path.EndsWith(".json", StringComparison.Ordinal))
            {
                continue;
            }
            var key = path[..folder];
            if (!newest.TryGetValue(key, out var seen) || string.CompareOrdinal(path, seen) > 0)
            {
                newest[key] = path;
            }
        }
        var current = new List<AliasMove>();
        foreach (var path in newest.Values)
        {
            if (await ReadMoveAsync(path, cancellationToken).ConfigureAwait(false) is { ModelVersion: > 0 } move)
            {
                current.Add(move);
            }
        }
        return [.. current.OrderBy(m => m.Name, StringComparer.Ordinal).ThenBy(m => m.Alias, StringComparer.Ordinal)];
    }

    private async Task<AliasMove?> ReadMoveAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
        return stream is null ? null : await JsonSerializer.DeserializeAsync<AliasMove>(stream, Json, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A model's tags (empty when it has none).</summary>
    public async Task<IReadOnlyDictionary<string, string>> GetTagsAsync(string modelId, CancellationToken cancellationToken = default)
    {
        await using var stream = await store.OpenReadAsync(TagsPath(modelId), cancellationToken).ConfigureAwait(false);
        return stream is null ? new Dictionary<string, string>()
            : await JsonSerializer.DeserializeAsync<Dictionary<string, string>>(stream, Json, cancellationToken).ConfigureAwait(false) ?? [];
    }

    /// <summary>Replaces a model's tags.</summary>
    public async Task SetTagsAsync(string modelId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default)
    {
        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(tags, Json), writable: false);
        await store.PutAsync(TagsPath(modelId), content, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The record of <c>name@version</c> (found through its version claim, not a scan), or null.</summary>
    public async Task<ModelRecord?> FindAsync(string name, int version, CancellationToken cancellationToken = default)
    {
        if (!DatasetPaths.IsValidName(name) || version < 1)
        {
            return null;
        }
        await using var stream = await store.OpenReadAsync($"{NamesRoot}{name}/v{version:D6}.json", cancellationToken).ConfigureAwait(false);
        var claim = stream is null ? null : await JsonSerializer.DeserializeAsync<VersionClaim>(stream, Json, cancellationToken).ConfigureAwait(false);
        return claim is null ? null : await GetAsync(claim.ModelId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One model's record, or null.</summary>
    public async Task<ModelRecord?> GetAsync(string modelId, CancellationToken cancellationToken = default)
    {
        await using var stream = await store.OpenReadAsync(RecordPath(modelId), cancellationToken).ConfigureAwait(false);
        return stream is null ? null : await JsonSerializer.DeserializeAsync<ModelRecord>(stream, Json, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every registered model, oldest first.</summary>
    public async Task<IReadOnlyList<ModelRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        var records = new List<ModelRecord>();
        await foreach (var path in store.ListAsync("models/", cancellationToken).ConfigureAwait(false))
        {
            if (path.EndsWith("/model.json", StringComparison.Ordinal))
            {
                await using var stream = await store.OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
                if (stream is not null && await JsonSerializer.DeserializeAsync<ModelRecord>(stream, Json, cancellationToken).ConfigureAwait(false) is { } record)
                {
                    records.Add(record);
                }
            }
        }
        return records.OrderBy(r => r.CreatedAt).ThenBy(r => r.ModelId, StringComparer.Ordinal).ToList();
    }

    /// <summary>The ids of every registered model (a listing only: no record is read), in ordinal order.</summary>
    public async Task<IReadOnlyList<string>> ListIdsAsync(CancellationToken cancellationToken = default)
    {
        var ids = new List<string>();
        await foreach (var path in store.ListAsync("models/", cancellationToken).ConfigureAwait(false))
        {
            if (path.EndsWith("/model.json", StringComparison.Ordinal))
            {
                ids.Add(path["models/".Length..^"/model.json".Length]);
            }
        }
        return ids;
    }

    /// <summary>
    /// Whether <paramref name="a"/> is newer than <paramref name="b"/>: a higher version under the same name, else later
    /// registered, ties broken by id (the order of <see cref="ListAsync"/>).
    /// </summary>
    public static bool IsNewer(ModelRecord a, ModelRecord b) =>
        a.ServedName == b.ServedName && a.ModelVersion != b.ModelVersion
            ? a.ModelVersion > b.ModelVersion
            : a.CreatedAt > b.CreatedAt || (a.CreatedAt == b.CreatedAt && string.CompareOrdinal(a.ModelId, b.ModelId) > 0);

    /// <summary>The newest registered model, or null when there is none.</summary>
    public async Task<ModelRecord?> LatestAsync(CancellationToken cancellationToken = default) =>
        (await ListAsync(cancellationToken).ConfigureAwait(false)).LastOrDefault();

    /// <summary>Reads a model's weights.</summary>
    public async Task<byte[]> ReadWeightsAsync(ModelRecord record, CancellationToken cancellationToken = default)
    {
        await using var stream = await store.OpenReadAsync(record.WeightsPath, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"Model '{record.ModelId}': weights '{record.WeightsPath}' are missing from storage.");
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }
}
