using BigDataAI.Datasets;
using BigDataAI.Datasets.Profiling;
using BigDataAI.Ingestion.Quality;
using BigDataAI.Ingestion.Services;
using BigDataAI.Protos.Quality.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P = BigDataAI.Protos.Quality.V1;

namespace BigDataAI.Ingestion.Apis;

/// <summary>GetProfile: the stored profile of a version, computed in the call when it is not stored yet.</summary>
internal sealed partial class DataQualityApi
{
    public override async Task<GetProfileReply> GetProfile(GetProfileRequest request, ServerCallContext context)
    {
        var manifest = await QualityStatus.GuardAsync(() =>
        {
            QualityArguments.Dataset("dataset", request.Dataset);
            QualityArguments.Version("version", request.Version);
            return Datasets.GetRequiredAsync(request.Dataset, request.Version, context.CancellationToken);
        }).ConfigureAwait(false);
        var profiler = Services.GetRequiredService<DatasetProfiler>();
        var (profile, computedNow) = await profiler.GetOrComputeAsync(manifest, context.CancellationToken).ConfigureAwait(false);
        if (computedNow)
        {
            Logger.LogInformation("GetProfile computed the profile of {Dataset} v{Version} in the call", manifest.Dataset, manifest.Version);
        }
        return ToReply(profile, computedNow);
    }

    internal static GetProfileReply ToReply(DatasetProfile profile, bool computedNow)
    {
        var reply = new GetProfileReply
        {
            Dataset = profile.Dataset,
            Version = profile.Version,
            Rows = profile.Rows,
            Parts = profile.Parts,
            ComputedNow = computedNow,
            ProfilePath = DatasetPaths.Profile(profile.Dataset, profile.Version),
            Json = ProfileStore.Serialize(profile),
            Duplicates = new P.DuplicateReport
            {
                DuplicateRows = profile.Duplicates.DuplicateRows,
                Groups = profile.Duplicates.Groups,
                Examples = { profile.Duplicates.Examples.Select(g => new RowGroup { Rows = { g } }) },
            },
        };
        foreach (var c in profile.Columns)
        {
            var column = new P.ColumnProfile
            {
                Name = c.Name,
                Type = c.Type,
                Role = c.Role,
                Count = c.Count,
                Nulls = c.Nulls,
                Distinct = c.Distinct ?? -1,
                NonFinite = c.NonFinite,
                TopValuesExact = c.TopValuesExact,
                TopValues = { c.TopValues.Select(t => new P.TopValue { Value = t.Value, Count = t.Count }) },
            };
            if (c.Values is { } v)
            {
                column.Values = new P.NumericSummary
                {
                    Measure = v.Measure,
                    Count = v.Count,
                    Min = v.Min,
                    Max = v.Max,
                    Mean = v.Mean,
                    Stddev = v.StdDev,
                    Quantiles = { v.Quantiles.Select(q => new Quantile { Q = q.Q, Value = q.Value }) },
                    Histogram = { v.Histogram.Select(b => new P.HistogramBin { Lower = b.Lower, Upper = b.Upper, Count = b.Count }) },
                };
            }
            if (c.Outliers is { } o)
            {
                column.Outliers = new P.OutlierReport { Method = o.Method, Lower = o.Lower, Upper = o.Upper, Count = o.Count, ExampleRows = { o.ExampleRows } };
            }
            reply.Columns.Add(column);
        }
        if (profile.ClassBalance is { } balance)
        {
            reply.ClassBalance = new P.ClassBalance
            {
                Column = balance.Column,
                Unlabeled = balance.Unlabeled,
                MajorityFraction = balance.MajorityFraction,
                ImbalanceRatio = balance.ImbalanceRatio,
                Classes = { balance.Classes.Select(c => new P.ClassShare { Class = c.Class, Count = c.Count, Fraction = c.Fraction }) },
            };
        }
        reply.NearDuplicates.AddRange(profile.NearDuplicates.Select(n => new P.NearDuplicateReport
        {
            Column = n.Column,
            Method = n.Method,
            Threshold = n.Threshold,
            Pairs = n.Pairs,
            RowsSearched = n.RowsSearched,
            Examples = { n.Examples.Select(e => new RowGroup { Rows = { e } }) },
        }));
        reply.Leakage.AddRange(profile.Leakage.Select(h => new P.LeakageHint
        {
            Column = h.Column,
            Method = h.Method,
            Accuracy = h.Accuracy,
            Baseline = h.Baseline,
            Suspicious = h.Suspicious,
            Detail = h.Detail,
        }));
        return reply;
    }
}
