using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace BigDataAI.Training.Services;

internal static class TrainingTelemetry
{
    public const string Name = "BigDataAI.Training";
    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);
    public static readonly Counter<long> Jobs = Meter.CreateCounter<long>("bigdataai.training.jobs", description: "Jobs finished, by outcome");
    public static readonly UpDownCounter<long> Running = Meter.CreateUpDownCounter<long>("bigdataai.training.jobs.running", description: "Jobs running now on this worker");
    public static readonly Counter<long> TakenBack = Meter.CreateCounter<long>("bigdataai.training.jobs.taken_back", description: "Running jobs queued again because their worker was lost");
    public static readonly Counter<long> SilentHandOuts = Meter.CreateCounter<long>("bigdataai.training.handouts.unstarted", description: "Jobs handed to a worker that did not start them in time (handed to another)");
    public static readonly Histogram<double> Throughput = Meter.CreateHistogram<double>("bigdataai.training.samples_per_second", "{sample}/s", "Training throughput per epoch");
    public static readonly Histogram<double> EpochLoss = Meter.CreateHistogram<double>("bigdataai.training.epoch.loss", description: "Mean training loss per epoch");
    public static readonly Histogram<double> CheckpointDuration = Meter.CreateHistogram<double>("bigdataai.training.checkpoint.duration", "s", "Time to serialize a checkpoint, store it and record its epoch");
    public static readonly Histogram<double> EpochAccuracy = Meter.CreateHistogram<double>("bigdataai.training.epoch.validation_accuracy", description: "Validation accuracy per epoch");

    private static Func<(int Cpu, int Gpu, int Running, int Workers)>? _queue;

    /// <summary>Queue length (by need), jobs running and workers connected, as the scheduler sees them.</summary>
    public static void ObserveQueue(Func<(int Cpu, int Gpu, int Running, int Workers)> depth)
    {
        if (Interlocked.Exchange(ref _queue, depth) is not null)
        {
            return; // gauges already created (one scheduler per process)
        }
        Meter.CreateObservableGauge("bigdataai.training.queue.length", () => new[]
        {
            new Measurement<int>(_queue!().Cpu, new KeyValuePair<string, object?>("need", "cpu")),
            new Measurement<int>(_queue!().Gpu, new KeyValuePair<string, object?>("need", "gpu")),
        }, "{job}", "Jobs waiting for a worker, by need");
        Meter.CreateObservableGauge("bigdataai.training.scheduler.jobs.running", () => _queue!().Running, "{job}", "Jobs running on any worker");
        Meter.CreateObservableGauge("bigdataai.training.workers", () => _queue!().Workers, "{worker}", "Training workers connected");
    }
}
