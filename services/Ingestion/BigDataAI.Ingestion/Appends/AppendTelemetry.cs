using System.Diagnostics.Metrics;

namespace BigDataAI.Ingestion.Appends;

/// <summary>Append metrics, on the ingestion service's meter (<c>BigDataAI.Ingestion</c>).</summary>
internal static class AppendTelemetry
{
    private static readonly Meter Meter = new(Services.IngestionTelemetry.Name);
    public static readonly Counter<long> Batches = Meter.CreateCounter<long>("bigdataai.ingestion.appends.batches", description: "Appended batches by outcome (staged, duplicate, gap)");
    public static readonly Counter<long> RowsStaged = Meter.CreateCounter<long>("bigdataai.ingestion.appends.rows_staged", description: "Rows staged by appends");
    public static readonly Counter<long> Versions = Meter.CreateCounter<long>("bigdataai.ingestion.appends.versions", description: "Versions committed from staged appends");
}
