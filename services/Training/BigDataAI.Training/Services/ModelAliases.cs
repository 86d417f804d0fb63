using BigDataAI.Contracts.Training;
using BigDataAI.Hosting;
using BigDataAI.Models.Registry;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Training.Services;

/// <summary>A model, version or alias the caller named does not exist (NOT_FOUND).</summary>
public sealed class RegistryNotFoundException(string message) : Exception(message);

/// <summary>A promotion the gate refused, or a rollback with nothing to go back to (FAILED_PRECONDITION).</summary>
public sealed class PromotionRefusedException(string message) : Exception(message);

/// <summary>
/// Moves aliases of model names (docs/registry.md): promotion through a validation gate, forced promotion, rollback and
/// deletion. Each move is appended create-only to the alias's history, so two moves at once never both win: the loser
/// reads the new holder and decides again (the gate runs against whoever holds the alias at that moment).
/// </summary>
public sealed class ModelAliases(ModelRegistry registry, BoundedPublisher bus, TimeProvider clock, ILogger<ModelAliases> logger)
{
    /// <summary>The most times a move is decided again after losing a race to another move.</summary>
    private const int Attempts = 20;

    /// <summary>
    /// Points <c>name@alias</c> at <c>name@version</c>. Unless <paramref name="force"/>, the candidate must beat the
    /// alias's current holder by at least <paramref name="margin"/> on the same test split: the candidate's own test
    /// split, on which the holder was scored when the candidate was registered (<see cref="ModelRecord.Comparisons"/>), or
    /// the holder's recorded test score when both were trained on the same dataset version (the same split).
    /// </summary>
    /// <exception cref="ArgumentException">A bad alias or margin (INVALID_ARGUMENT).</exception>
    /// <exception cref="RegistryNotFoundException">No such name or version.</exception>
    /// <exception cref="PromotionRefusedException">The gate refused: the message gives both scores.</exception>
    public async Task<AliasMove> PromoteAsync(string name, int version, string alias, double margin, bool force, string by, string reason, CancellationToken cancellationToken)
    {
        CheckAlias(alias);
        if (!double.IsFinite(margin) || margin < 0 || margin > 1)
        {
            throw new ArgumentException($"Field 'min_improvement': {margin} is out of range; use 0 to 1 (the candidate must score at least the holder's score plus this).");
        }
        var candidate = await RequireAsync(name, version, cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var history = await registry.AliasHistoryAsync(name, alias, cancellationToken).ConfigureAwait(false);
            var current = history.Count == 0 ? null : history[^1];
            if (current is { ModelVersion: var held } && held == version)
            {
                return current; // already there: a retried call changes nothing
            }
            var holder = current is { ModelVersion: > 0 } ? await registry.FindAsync(name, current.ModelVersion, cancellationToken).ConfigureAwait(false) : null;
            double? holderScore = null;
            var action = holder is null ? "first" : force ? "force" : "promote";
            if (holder is not null && !force)
            {
                holderScore = HolderScoreOnCandidateSplit(candidate, holder);
                if (holderScore is null)
                {
                    throw new PromotionRefusedException(
                        $"{name}@{alias} is {name}@{holder.ModelVersion}, and it was never scored on the test split of {name}@{version} ({candidate.Dataset} v{candidate.DatasetVersion}): " +
                        $"{Unmeasured(candidate, holder)} Promote with force to skip the gate.");
                }
                if (candidate.TestAccuracy < holderScore.Value + margin)
                {
                    throw new PromotionRefusedException(
                        $"{name}@{version} does not beat {name}@{alias} ({name}@{holder.ModelVersion}) on the test split of {candidate.Dataset} v{candidate.DatasetVersion}: " +
                        $"candidate {Score(candidate.TestAccuracy)}, holder {Score(holderScore.Value)}; a promotion needs at least {Score(holderScore.Value + margin)} (holder + margin {margin.ToString(System.Globalization.CultureInfo.InvariantCulture)}). Promote with force to skip the gate.");
                }
            }
            var move = new AliasMove(name, alias, (current?.Sequence ?? 0) + 1, version, candidate.ModelId, current?.ModelVersion ?? 0, action,
                holder is null || force ? null : candidate.TestAccuracy, holderScore, force ? 0 : margin, clock.GetUtcNow())
            {
                By = by,
                Reason = reason,
            };
            if (await registry.TryMoveAliasAsync(move, cancellationToken).ConfigureAwait(false))
            {
                await AnnounceAsync(move, cancellationToken).ConfigureAwait(false);
                return move;
            }
            // Another move took the sequence: decide again against the new holder.
        }
        throw new PromotionRefusedException($"{name}@{alias} kept moving under this promotion ({Attempts} attempts); try again.");
    }

    /// <summary>Moves <c>name@alias</c> back to the version it pointed to before its latest move.</summary>
    public async Task<AliasMove> RollbackAsync(string name, string alias, string by, string reason, CancellationToken cancellationToken)
    {
        CheckAlias(alias);
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var history = await registry.AliasHistoryAsync(name, alias, cancellationToken).ConfigureAwait(false);
            if (history.Count == 0)
            {
                throw new RegistryNotFoundException($"Model '{name}' has no alias '{alias}'.");
            }
            var current = history[^1];
            if (current.PreviousVersion == 0)
            {
                throw new PromotionRefusedException($"{name}@{alias} has nothing to roll back to: its latest move ({current.Action}, sequence {current.Sequence}) had no previous holder.");
            }
            var target = await RequireAsync(name, current.PreviousVersion, cancellationToken).ConfigureAwait(false);
            var move = new AliasMove(name, alias, current.Sequence + 1, target.ModelVersion, target.ModelId, current.ModelVersion, "rollback", null, null, 0, clock.GetUtcNow())
            {
                By = by,
                Reason = reason,
            };
            if (await registry.TryMoveAliasAsync(move, cancellationToken).ConfigureAwait(false))
            {
                await AnnounceAsync(move, cancellationToken).ConfigureAwait(false);
                return move;
            }
        }
        throw new PromotionRefusedException($"{name}@{alias} kept moving under this rollback ({Attempts} attempts); try again.");
    }

    /// <summary>An alias's history, oldest first; <see cref="RegistryNotFoundException"/> when it was never set.</summary>
    public async Task<IReadOnlyList<AliasMove>> HistoryAsync(string name, string alias, CancellationToken cancellationToken)
    {
        CheckAlias(alias);
        var history = await registry.AliasHistoryAsync(name, alias, cancellationToken).ConfigureAwait(false);
        return history.Count > 0 ? history : throw new RegistryNotFoundException($"Model '{name}' has no alias '{alias}'.");
    }

    /// <summary>The record of <c>name@version</c>, or <see cref="RegistryNotFoundException"/>.</summary>
    public async Task<ModelRecord> RequireAsync(string name, int version, CancellationToken cancellationToken) =>
        await registry.FindAsync(name, version, cancellationToken).ConfigureAwait(false)
        ?? throw new RegistryNotFoundException(version < 1
            ? $"Field 'version': {version} is not a model version (versions start at 1)."
            : $"Model '{name}' has no version {version}.");

    /// <summary>The holder's score on the candidate's test split, or null when it was never measured.</summary>
    internal static double? HolderScoreOnCandidateSplit(ModelRecord candidate, ModelRecord holder)
    {
        if (candidate.Comparisons.FirstOrDefault(c => c.ModelId == holder.ModelId) is { Score: { } measured })
        {
            return measured;
        }
        // Trained on the same dataset version: the same labeled version, so the same test split, which the holder's
        // own test score was measured on.
        return candidate.Dataset == holder.Dataset && candidate.DatasetVersion == holder.DatasetVersion ? holder.TestAccuracy : null;
    }

    private static string Unmeasured(ModelRecord candidate, ModelRecord holder) =>
        candidate.Comparisons.FirstOrDefault(c => c.ModelId == holder.ModelId) is { Error: { } error }
            ? $"scoring it there failed when {candidate.Reference} was registered ({error})."
            : $"{holder.Reference} held no alias when {candidate.Reference} was registered, and it was trained on {holder.Dataset} v{holder.DatasetVersion}.";

    private static string Score(double value) => value.ToString("F4", System.Globalization.CultureInfo.InvariantCulture);

    private static void CheckAlias(string alias)
    {
        if (!Datasets.DatasetPaths.IsValidName(alias))
        {
            throw new ArgumentException($"Field 'alias': '{alias}' is not a valid alias (1-64 characters of [a-z0-9-], starting with a letter; e.g. production).");
        }
    }

    private async Task AnnounceAsync(AliasMove move, CancellationToken cancellationToken)
    {
        logger.LogInformation("Alias {Name}@{Alias} moved to version {Version} ({Action}; before: {Previous}), candidate {Candidate}, holder {Holder}",
            move.Name, move.Alias, move.ModelVersion, move.Action, move.PreviousVersion, move.CandidateScore, move.HolderScore);
        try
        {
            await bus.PublishAsync(new ModelAliasMoved(move.Name, move.Alias, move.ModelVersion, move.ModelId, move.Sequence, move.At), cancellationToken).ConfigureAwait(false);
        }
        catch (MessagingUnavailableException e)
        {
            // The move is stored, which is what counts: inference reads aliases from the registry on its reconcile timer.
            logger.LogWarning("Alias {Name}@{Alias} moved, but ModelAliasMoved could not be published ({Reason}); inference finds the move in the registry", move.Name, move.Alias, e.Message);
        }
    }
}
