using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace BigDataAI.Training.Services;

internal static class TrainingTelemetry
{
    public const string Name = "BigDataAI.Training";
    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);
    public static readonly Counter<long> Jobs = Meter.CreateCounter<long>("bigdataai.training.jobs", description: "Jobs finished, by outcome");
    public static readonly UpDownCounter<long> Running = Meter.CreateUpDownCounter<long>("bigdataai.training.jobs.running", description: "Jobs running now");
    public static readonly Histogram<double> Throughput = Meter.CreateHistogram<double>("bigdataai.training.samples_per_second", "{sample}/s", "Training throughput per epoch");
    public static readonly Histogram<double> EpochLoss = Meter.CreateHistogram<double>("bigdataai.training.epoch.loss", description: "Mean training loss per epoch");
    public static readonly Histogram<double> EpochAccuracy = Meter.CreateHistogram<double>("bigdataai.training.epoch.validation_accuracy", description: "Validation accuracy per epoch");
}
