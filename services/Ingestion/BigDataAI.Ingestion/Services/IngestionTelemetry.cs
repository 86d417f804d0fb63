using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace BigDataAI.Ingestion.Services;

internal static class IngestionTelemetry
{
    public const string Name = "BigDataAI.Ingestion";
    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);
    public static readonly Counter<long> Uploads = Meter.CreateCounter<long>("bigdataai.ingestion.uploads", description: "Uploads by outcome");
    public static readonly Counter<long> Rows = Meter.CreateCounter<long>("bigdataai.ingestion.rows", description: "Rows committed");
    public static readonly Counter<long> QuarantinedRows = Meter.CreateCounter<long>("bigdataai.ingestion.quarantined_rows", description: "Rows committed versions quarantined");
    public static readonly Counter<long> Bytes = Meter.CreateCounter<long>("bigdataai.ingestion.bytes", "By", "Upload bytes received");
}
