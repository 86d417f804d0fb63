using System.CommandLine;
using BigDataAI.Cli;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;
using Grpc.Net.Client;

var root = new RootCommand("BigDataAI: raw data in, a served model out. Run 'bigdataai demo' for the whole flow in one process.");

// Shared options.
var server = new Option<string>("--server") { Description = "Base URL of a deployment that serves every API (embedded 'serve')", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
var ingestionUrl = new Option<string?>("--ingestion") { Description = "Ingestion service URL (distributed mode); defaults to --server" };
var trainingUrl = new Option<string?>("--training") { Description = "Training service URL (distributed mode); defaults to --server" };
var inferenceUrl = new Option<string?>("--inference") { Description = "Inference service URL (distributed mode); defaults to --server" };
var dataset = new Option<string>("--dataset") { Description = "Dataset name ([a-z0-9-], starting with a letter)", DefaultValueFactory = _ => "mnist" };
var images = new Option<string?>("--images") { Description = "IDX image file (gzipped or not)" };
var labels = new Option<string?>("--labels") { Description = "IDX label file (gzipped or not)" };
var csv = new Option<string?>("--table", "--csv") { Description = "A table file, read by its extension: CSV with a header row (.tsv or .tab: tab-separated), JSON Lines (.jsonl, .ndjson) or Parquet (.parquet); column types are inferred, empty/NA/NaN cells are nulls" };
var labelColumn = new Option<string>("--label-column") { Description = "CSV: name of the label column (default 'label'; a file without it is stored unlabeled)", DefaultValueFactory = _ => "" };
var source = new Option<string?>("--source") { Description = "Where the data came from (stored in the manifest)" };
var model = new Option<string>("--model") { Description = "Model to train: " + string.Join("; ", BigDataAI.Models.ModelCatalog.All.Select(m => $"{m.Name} ({m.Description})")) + ". Default: the dataset's (cnn for images, else mlp)", DefaultValueFactory = _ => "" };
var modelName = new Option<string?>("--model-name") { Description = "The name to register the model under (default: the dataset's name)" };
var predictModel = new Option<string?>("--model") { Description = "The model to ask: name (its newest version) or name@version; default: the only one registered" };
var columns = new Option<string[]>("--column") { Description = "CSV/TSV: override what is inferred for a column, as NAME=ROLE or NAME=ROLE:TYPE or NAME=:TYPE (roles: feature, label, text, image, id, ignored; types: int64, double, bool, string, timestamp); repeat for several", AllowMultipleArgumentsPerToken = true };
var version = new Option<int>("--version") { Description = "Dataset version (0 = newest)" };
var epochs = new Option<int>("--epochs") { Description = "Epochs (0 = the model's default: 12 for cnn, 10 for mlp)" };
var batchSize = new Option<int>("--batch-size") { Description = "Batch size (0 = 128)" };
var learningRate = new Option<double>("--learning-rate") { Description = "Learning rate (0 = 1e-3 for adam, 0.05 for sgd)" };
var optimizer = new Option<string?>("--optimizer") { Description = "adam or sgd" };
var seed = new Option<long>("--seed") { Description = "Seed (0 = 1)" };
// The training recipe (docs/training.md): every default is "off".
var weightDecay = new Option<double>("--weight-decay") { Description = "L2 weight decay, 0-1 (0 = none)" };
var dropout = new Option<double>("--dropout") { Description = "Dropout after each hidden layer, 0 up to 1 (0 = none; not for logreg)" };
var lrSchedule = new Option<string?>("--lr-schedule") { Description = "Learning-rate schedule: constant (default), step or cosine" };
var warmupEpochs = new Option<int>("--warmup-epochs") { Description = "Epochs of linear learning-rate warmup (0 = none)" };
var stepEpochs = new Option<int>("--step-epochs") { Description = "--lr-schedule step: epochs between reductions" };
var stepGamma = new Option<double>("--step-gamma") { Description = "--lr-schedule step: factor of each reduction (0 = 0.1)" };
var patience = new Option<int>("--patience") { Description = "Early stopping: stop after this many epochs without a better validation score (0 = off)" };
var minDelta = new Option<double>("--min-delta") { Description = "Early stopping: the least rise of the validation score that counts (default 0)" };
var classWeights = new Option<string?>("--class-weights") { Description = "Class weights: balanced, or one per class in the labeled version's order, e.g. 1,4.5" };
var maxGradNorm = new Option<double>("--max-grad-norm") { Description = "Clip the gradients' total L2 norm to this (0 = no clipping)" };
var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Store a checkpoint every this many epochs (0 = every epoch); a lost worker's job resumes from the newest" };
var sliceColumns = new Option<string[]>("--slice") { Description = "Break the test metrics down by this column's values (accuracy, recall, F1 per value and the largest gap); repeat for several" };
var sensitiveColumns = new Option<string[]>("--sensitive") { Description = "Slice by this column and report the demographic-parity and equalized-odds differences; repeat for several" };
var gpus = new Option<int>("--gpus") { Description = "GPUs the job needs (0 = train on the CPU); it runs only on a worker that has them" };
var memoryMiB = new Option<int>("--memory-mib") { Description = "Memory the job needs in MiB (0 = no stated need)" };
var trialCount = new Option<int>("--trials") { Description = "Trials to run in parallel (seeds --seed, --seed+1, ...)", DefaultValueFactory = _ => 4 };
var waitWorkers = new Option<int>("--wait-workers") { Description = "Wait until this many training workers are connected before submitting" };
var noWait = new Option<bool>("--no-wait") { Description = "Return once the job is queued" };
var job = new Option<string>("--job") { Description = "Job id", Required = true };
var offset = new Option<int>("--offset") { Description = "First row of the file to classify" };
var count = new Option<int>("--count") { Description = "Rows to classify", DefaultValueFactory = _ => 10 };
var dataDir = new Option<string>("--data") { Description = "Folder for the embedded mode's storage", DefaultValueFactory = _ => ".data" };
var samples = new Option<string?>("--samples") { Description = "Folder with images.idx3-ubyte.gz and labels.idx1-ubyte.gz (default: the shipped samples/mnist)" };
var charts = new Option<string?>("--charts") { Description = "Folder to write <job>-curves.png (loss and validation accuracy per epoch) and <job>-confusion.png (test confusion matrix) into when the job ends" };
var watchJobs = new Option<string[]>("--job") { Description = "Job id; repeat (--job A --job B) or list (--job A B) to watch several at once", Required = true, AllowMultipleArgumentsPerToken = true };
var port = new Option<int>("--port") { Description = "Port for the embedded server (0 = any free port)", DefaultValueFactory = _ => 5080 };

Flows FlowsFor(ParseResult r)
{
    var fallback = r.GetValue(server)!;
    return new Flows(Channel(r.GetValue(ingestionUrl) ?? fallback), Channel(r.GetValue(trainingUrl) ?? fallback), Channel(r.GetValue(inferenceUrl) ?? fallback), Console.Out);
}

StartTrainingRequest TrainingRequestFrom(ParseResult r) => new()
{
    Dataset = r.GetValue(dataset)!,
    Version = r.GetValue(version),
    Model = r.GetValue(model)!,
    HyperParameters = new HyperParameters
    {
        Epochs = r.GetValue(epochs),
        BatchSize = r.GetValue(batchSize),
        LearningRate = r.GetValue(learningRate),
        Optimizer = r.GetValue(optimizer) ?? "",
        Seed = r.GetValue(seed),
        WeightDecay = r.GetValue(weightDecay),
        Dropout = r.GetValue(dropout),
        LrSchedule = r.GetValue(lrSchedule) ?? "",
        WarmupEpochs = r.GetValue(warmupEpochs),
        StepEpochs = r.GetValue(stepEpochs),
        StepGamma = r.GetValue(stepGamma),
        EarlyStoppingPatience = r.GetValue(patience),
        EarlyStoppingMinDelta = r.GetValue(minDelta),
        ClassWeights = r.GetValue(classWeights) ?? "",
        MaxGradNorm = r.GetValue(maxGradNorm),
        CheckpointEveryEpochs = r.GetValue(checkpointEvery),
    },
    Resources = new Resources { Gpus = r.GetValue(gpus), MemoryMib = r.GetValue(memoryMiB) },
    ModelName = r.GetValue(modelName) ?? "",
    Evaluation = (r.GetValue(sliceColumns) ?? []).Length + (r.GetValue(sensitiveColumns) ?? []).Length == 0 ? null
        : new Evaluation { SliceColumns = { r.GetValue(sliceColumns) ?? [] }, SensitiveColumns = { r.GetValue(sensitiveColumns) ?? [] } },
};

(string? Images, string? Labels, string? Csv) InputsFrom(ParseResult r)
{
    var (i, l, c) = (r.GetValue(images), r.GetValue(labels), r.GetValue(csv));
    if (c is null && (i is null || l is null))
    {
        throw new ArgumentException("Give either --table FILE (or --csv), or both --images FILE and --labels FILE.");
    }
    if (c is not null && (i is not null || l is not null))
    {
        throw new ArgumentException("Give either --table or --images/--labels, not both.");
    }
    foreach (var path in new[] { i, l, c }.OfType<string>())
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"File not found: {path}", path);
        }
    }
    return (i, l, c);
}

var archive = new Option<string?>("--archive") { Description = "A zip, tar or .tar.gz of images (.png, .jpg) or text files (.txt) in class folders (cat/001.png), or with a labels.csv (path,label) at the top" };
var quarantine = new Option<double?>("--quarantine") { Description = "Tables: quarantine bad rows instead of refusing the file, creating the version while bad rows / all rows stay at most this fraction (0-1, e.g. 0.05); the bad rows are stored with their row and reason (docs/validation.md)" };
var allowSchemaChange = new Option<bool>("--allow-schema-change") { Description = "Tables: accept columns incompatible with the dataset's previous version (a column dropped, renamed or retyped)" };
var ingest = new Command("ingest", "Upload IDX, CSV, TSV or an archive of images or text files as a new dataset version") { server, ingestionUrl, dataset, images, labels, csv, labelColumn, source, columns, archive, quarantine, allowSchemaChange };
ingest.SetAction((r, ct) => Run(async () =>
{
    if (r.GetValue(archive) is { } zip)
    {
        if (!File.Exists(zip))
        {
            throw new FileNotFoundException($"File not found: {zip}", zip);
        }
        await FlowsFor(r).IngestArchiveAsync(r.GetValue(dataset)!, zip, r.GetValue(source), ct);
        return 0;
    }
    var (i, l, c) = InputsFrom(r);
    await FlowsFor(r).IngestAsync(r.GetValue(dataset)!, i, l, c, r.GetValue(labelColumn)!, r.GetValue(source), ct, ColumnOverrides(r.GetValue(columns) ?? []),
        r.GetValue(quarantine), r.GetValue(allowSchemaChange));
    return 0;
}));

var train = new Command("train", "Start a training job and follow its progress") { server, trainingUrl, dataset, version, model, modelName, sliceColumns, sensitiveColumns, epochs, batchSize, learningRate, optimizer, seed, weightDecay, dropout, lrSchedule, warmupEpochs, stepEpochs, stepGamma, patience, minDelta, classWeights, maxGradNorm, checkpointEvery, gpus, memoryMiB, noWait, charts };
train.SetAction((r, ct) => Run(async () =>
{
    var flows = FlowsFor(r);
    var started = await flows.StartTrainingAsync(TrainingRequestFrom(r), TimeSpan.FromMinutes(2), ct);
    if (!r.GetValue(noWait))
    {
        var final = await flows.WatchAsync(started.JobId, r.GetValue(charts), ct);
        return final.State == JobState.Succeeded ? 0 : 1;
    }
    return 0;
}));

var status = new Command("status", "Show a job's state") { server, trainingUrl, job };
status.SetAction((r, ct) => Run(async () =>
{
    var j = await new TrainingService.TrainingServiceClient(Channel(r.GetValue(trainingUrl) ?? r.GetValue(server)!)).GetJobAsync(new GetJobRequest { JobId = r.GetValue(job)! }, cancellationToken: ct);
    Console.WriteLine($"{j.JobId}: {j.State}, epoch {j.EpochsCompleted}/{j.Epochs}, loss {j.TrainLoss:F4}, validation accuracy {j.ValidationAccuracy:P2}{(j.Error.Length > 0 ? ", error: " + j.Error : "")}");
    FlowsFor(r).PrintMetrics(j);
    return 0;
}));

var watch = new Command("watch", "Follow one or more jobs' progress until they end") { server, trainingUrl, watchJobs, charts };
watch.SetAction((r, ct) => Run(async () => (await FlowsFor(r).WatchAsync(r.GetValue(watchJobs)!, r.GetValue(charts), ct)).All(j => j.State == JobState.Succeeded) ? 0 : 1));

var trials = new Command("trials", "Run the same training with several seeds at once, spread over the connected workers") { server, trainingUrl, dataset, version, model, epochs, batchSize, learningRate, optimizer, seed, weightDecay, dropout, lrSchedule, warmupEpochs, stepEpochs, stepGamma, patience, minDelta, classWeights, maxGradNorm, checkpointEvery, gpus, memoryMiB, trialCount, waitWorkers };
trials.SetAction((r, ct) => Run(() => Trials.RunAsync(FlowsFor(r), new TrainingService.TrainingServiceClient(Channel(r.GetValue(trainingUrl) ?? r.GetValue(server)!)),
    TrainingRequestFrom(r), r.GetValue(trialCount), r.GetValue(waitWorkers), Console.Out, ct)));

var sweepParams = new Option<string[]>("--param") { Description = "A dimension of the search space, repeat for several: " + SweepView.ParamSyntax + ". Names: learning_rate, weight_decay, dropout, batch_size, epochs, warmup_epochs, max_grad_norm, step_gamma, early_stopping_patience, optimizer, lr_schedule, model, class_weights", Required = true };
var strategy = new Option<string>("--strategy") { Description = "grid (every combination), random or asha (random draws stopped early by successive halving)", DefaultValueFactory = _ => "asha" };
var sweepTrials = new Option<int>("--trials") { Description = "Trials to draw for random and asha (0 = 8)" };
var sweepSeed = new Option<long>("--sweep-seed") { Description = "Seed of the draws (0 = 1); --seed stays the training seed of every trial" };
var minEpochs = new Option<int>("--min-epochs") { Description = "ASHA: the first rung, in epochs (0 = 1)" };
var reduction = new Option<int>("--reduction-factor") { Description = "ASHA: a trial goes on at a rung only within the top 1/factor (0 = 3)" };
var sweep = new Command("sweep", "Search hyper-parameters: trials as ordinary jobs over the workers, shown live; the best is reported and its model tagged") { server, trainingUrl, dataset, version, model, modelName, epochs, batchSize, learningRate, optimizer, seed, weightDecay, dropout, lrSchedule, warmupEpochs, stepEpochs, stepGamma, patience, minDelta, classWeights, maxGradNorm, gpus, memoryMiB, sweepParams, strategy, sweepTrials, sweepSeed, minEpochs, reduction };
sweep.SetAction((r, ct) => Run(() =>
{
    var request = new StartSweepRequest
    {
        Base = TrainingRequestFrom(r),
        Strategy = r.GetValue(strategy)!,
        Trials = r.GetValue(sweepTrials),
        Seed = r.GetValue(sweepSeed),
        MinEpochs = r.GetValue(minEpochs),
        ReductionFactor = r.GetValue(reduction),
    };
    request.Space.AddRange(r.GetValue(sweepParams)!.Select(SweepView.ParseParam));
    return SweepView.RunAsync(new TrainingService.TrainingServiceClient(Channel(r.GetValue(trainingUrl) ?? r.GetValue(server)!)), request, Console.Out, ct);
}));

var stopReason = new Option<string?>("--reason") { Description = "Why (kept in the job's stop_reason)" };
var stop = new Command("stop", "Stop a job: a queued one at once, a running one as soon as its worker hears") { server, trainingUrl, job, stopReason };
stop.SetAction((r, ct) => Run(async () =>
{
    var j = await new TrainingService.TrainingServiceClient(Channel(r.GetValue(trainingUrl) ?? r.GetValue(server)!)).StopJobAsync(new StopJobRequest { JobId = r.GetValue(job)!, Reason = r.GetValue(stopReason) ?? "" }, cancellationToken: ct);
    Console.WriteLine($"{j.JobId}: {j.State}{(j.StopReason.Length > 0 ? ", " + j.StopReason : "")}");
    return 0;
}));

var workers = new Command("workers", "List the connected training workers and the jobs queued or running") { server, trainingUrl };
workers.SetAction((r, ct) => Run(async () =>
{
    await Trials.PrintWorkersAndQueueAsync(new TrainingService.TrainingServiceClient(Channel(r.GetValue(trainingUrl) ?? r.GetValue(server)!)), Console.Out, ct);
    return 0;
}));

var predict = new Command("predict", "Classify rows of an IDX or CSV file with a served model (CSV rows are sent as raw cells; the model's own preprocessing runs on the server)") { server, inferenceUrl, images, labels, csv, labelColumn, offset, count, predictModel };
predict.SetAction((r, ct) => Run(async () =>
{
    var (i, l, c) = InputsFrom(r);
    await FlowsFor(r).PredictAsync(i, l, c, string.IsNullOrEmpty(r.GetValue(labelColumn)) ? "label" : r.GetValue(labelColumn)!, r.GetValue(offset), r.GetValue(count), r.GetValue(predictModel), ct);
    return 0;
}));

var explainClass = new Option<int?>("--class") { Description = "The class index whose probability is explained (default: the predicted class)" };
var explainSteps = new Option<int>("--steps") { Description = "Integration steps (0 = 64; up to 1024)" };
var explainChart = new Option<string?>("--chart") { Description = "Write a PNG: a saliency map for image and [h, w] tensor inputs, else a bar per column" };
var explainRow = new Option<int>("--offset") { Description = "The row of the file to explain" };
var explain = new Command("explain", "Explain one row's prediction: integrated-gradient attributions per input column (a saliency map for images)") { server, inferenceUrl, images, labels, csv, labelColumn, explainRow, predictModel, explainClass, explainSteps, explainChart };
explain.SetAction((r, ct) => Run(async () =>
{
    var (i, l, c) = InputsFrom(r);
    await FlowsFor(r).ExplainAsync(i, l, c, string.IsNullOrEmpty(r.GetValue(labelColumn)) ? "label" : r.GetValue(labelColumn)!, r.GetValue(explainRow), r.GetValue(predictModel), r.GetValue(explainClass), r.GetValue(explainSteps), r.GetValue(explainChart), ct);
    return 0;
}));

var pagePort = new Option<int>("--page-port") { Description = "HTTP/1.1 port for the labeling page (0 = any free port, -1 = none)", DefaultValueFactory = _ => 5081 };
var serve = new Command("serve", "Run all four services in this process (in-memory messaging, folder storage) until Ctrl+C") { dataDir, port, pagePort };
serve.SetAction((r, ct) => Run(async () =>
{
    var url = $"http://127.0.0.1:{(r.GetValue(port) == 0 ? Demo.FreePort() : r.GetValue(port))}";
    var pageUrl = r.GetValue(pagePort) switch { < 0 => null, 0 => $"http://127.0.0.1:{Demo.FreePort()}", var p => $"http://127.0.0.1:{p}" };
    await using var app = EmbeddedHost.Build(r.GetValue(dataDir)!, url, quiet: false, pageUrl: pageUrl);
    Console.WriteLine($"BigDataAI (embedded) serving gRPC on {url}; storage in {Path.GetFullPath(r.GetValue(dataDir)!)}");
    if (pageUrl is not null)
    {
        Console.WriteLine($"Labeling page: {pageUrl}/labeling/ (you are the local user 'local'; loopback only)");
    }
    await app.RunAsync(ct);
    return 0;
}));

var demoCharts = new Option<string?>("--charts") { Description = "Folder for the job's curves and confusion-matrix PNGs (default: charts/ in the --data folder)" };
var kind = new Option<string>("--kind") { Description = "What to run on: mnist (the shipped digits as IDX), table (generated people: strings, missing cells), text (generated notes, zipped in topic folders) or images (the shipped digits as PNG files, zipped in digit folders)", DefaultValueFactory = _ => "mnist" };
var demo = new Command("demo", "Ingest a sample, train, evaluate and serve a model, all in one process") { dataDir, samples, dataset, model, epochs, batchSize, learningRate, optimizer, seed, demoCharts, kind };
demo.SetAction((r, ct) => Run(() => Demo.RunAsync(r.GetValue(dataDir)!, r.GetValue(samples), TrainingRequestFrom(r), r.GetValue(demoCharts) ?? Path.Combine(r.GetValue(dataDir)!, "charts"), ct, r.GetValue(kind)!)));

var benchRounds = new Option<int>("--rounds") { Description = "Jobs, each between two bare loops; the ratios are the median over them", DefaultValueFactory = _ => 5 };
var bench = new Command("bench", "Benchmark: training throughput through the platform against a bare TorchSharp loop") { dataDir, samples, model, epochs, benchRounds };
bench.SetAction((r, ct) => Run(() => Benchmark.RunAsync(r.GetValue(dataDir)!, r.GetValue(samples), r.GetValue(model)!, r.GetValue(epochs), r.GetValue(benchRounds), ct)));
// bench data-scale: ingest throughput against DuckDB and each host's peak memory at growing dataset sizes (docs/memory.md).
var baseRows = new Option<int>("--rows") { Description = "Rows of the base sample the scales multiply (0 = the shipped sample's 10,000 digits)" };
var scales = new Option<int[]>("--scales") { Description = "Dataset sizes as multiples of --rows", DefaultValueFactory = _ => [10, 100], AllowMultipleArgumentsPerToken = true };
var heapLimit = new Option<int>("--heap-limit-mb") { Description = "Run the labeling and training-worker hosts with this managed heap limit (DOTNET_GCHeapHardLimit); 0 = none" };
var dataScale = new Command("data-scale", "Benchmark: CSV ingest against DuckDB's COPY to Parquet, and each service host's peak memory (VmHWM) at 10x and 100x the sample, hosts as processes against a private RabbitMQ and Azurite") { dataDir, samples, baseRows, scales, epochs, heapLimit };
dataScale.SetAction((r, ct) => Run(() => DataScaleBenchmark.RunAsync(r.GetValue(dataDir)!, r.GetValue(samples), r.GetValue(baseRows), r.GetValue(scales)!, Math.Max(1, r.GetValue(epochs)), r.GetValue(heapLimit), ct)));
bench.Subcommands.Add(dataScale);
// bench registry: SearchJobs and SearchModels at 100,000 records against reading every record (docs/registry.md).
var benchRuns = new Option<int>("--runs") { Description = "Job records to create", DefaultValueFactory = _ => 100_000 };
var benchModels = new Option<int>("--models") { Description = "Model records to create", DefaultValueFactory = _ => 100_000 };
var registryBench = new Command("registry", "Benchmark: run and model search at 100,000 records, against reading and filtering every stored record") { dataDir, benchRuns, benchModels };
registryBench.SetAction((r, ct) => Run(() => RegistryBenchmark.RunAsync(r.GetValue(dataDir)!, r.GetValue(benchRuns), r.GetValue(benchModels), ct)));
bench.Subcommands.Add(registryBench);
// bench sweep: an ASHA sweep's best trial against the default hyper-parameters on the same data (docs/sweeps.md).
var benchTrials = new Option<int>("--trials") { Description = "Trials of the sweep (0 = 12)" };
var sweepBench = new Command("sweep", "Benchmark: an ASHA sweep's best trial against the default hyper-parameters on the MNIST sample, in one embedded run") { dataDir, samples, model, epochs, benchTrials };
sweepBench.SetAction((r, ct) => Run(() => SweepBenchmark.RunAsync(r.GetValue(dataDir)!, r.GetValue(samples), r.GetValue(model)!, r.GetValue(epochs), r.GetValue(benchTrials), ct)));
bench.Subcommands.Add(sweepBench);

// --- profiles (begin) ---
var htmlReport = new Option<string?>("--html") { Description = "Also write an HTML report (tables and PNG charts embedded) to this file" };
var profile = new Command("profile", "Show a dataset version's profile: per column counts, nulls, distinct values, statistics, outliers; class balance, duplicates, leakage hints") { server, ingestionUrl, dataset, version, htmlReport };
profile.SetAction((r, ct) => Run(async () =>
{
    await ProfileReport.RunAsync(Channel(r.GetValue(ingestionUrl) ?? r.GetValue(server)!), r.GetValue(dataset)!, r.GetValue(version), r.GetValue(htmlReport), Console.Out, ct);
    return 0;
}));
root.Subcommands.Add(profile);
// --- profiles (end) ---

root.Subcommands.Add(demo);
root.Subcommands.Add(serve);
root.Subcommands.Add(ingest);
root.Subcommands.Add(train);
root.Subcommands.Add(status);
root.Subcommands.Add(watch);
root.Subcommands.Add(trials);
root.Subcommands.Add(sweep);
root.Subcommands.Add(stop);
root.Subcommands.Add(workers);
root.Subcommands.Add(predict);
root.Subcommands.Add(explain);
root.Subcommands.Add(bench);
// Data quality: clean (derived versions) and drift (QualityCommands.cs).
foreach (var command in QualityCommands.Create(dataset, version, r => Channel(r.GetValue(ingestionUrl) ?? r.GetValue(server)!), Run, server, ingestionUrl))
{
    root.Subcommands.Add(command);
}
// The model registry: models, runs, promote, rollback, alias, tag (RegistryCommands.cs).
foreach (var command in RegistryCommands.Create(r => Channel(r.GetValue(trainingUrl) ?? r.GetValue(server)!), Run, server, trainingUrl))
{
    root.Subcommands.Add(command);
}
return await root.Parse(args).InvokeAsync();

static IReadOnlyList<ColumnOverride> ColumnOverrides(IEnumerable<string> specs) => [.. specs.Select(spec =>
{
    var eq = spec.IndexOf('=');
    if (eq <= 0)
    {
        throw new ArgumentException($"--column '{spec}': write NAME=ROLE, NAME=ROLE:TYPE or NAME=:TYPE.");
    }
    var (name, rest) = (spec[..eq], spec[(eq + 1)..]);
    var colon = rest.IndexOf(':');
    return new ColumnOverride { Name = name, Role = colon < 0 ? rest : rest[..colon], Type = colon < 0 ? "" : rest[(colon + 1)..] };
})];

static GrpcChannel Channel(string url) => GrpcChannel.ForAddress(url, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });

static async Task<int> Run(Func<Task<int>> action)
{
    try
    {
        return await action();
    }
    catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && e.Status.DebugException is not null)
    {
        Console.Error.WriteLine($"error: cannot reach the service ({e.Status.Detail}). Is it running at the URL given " +
            "(--server, or --ingestion/--training/--inference)? Start everything in one process with 'bigdataai serve'.");
        return 2;
    }
    catch (RpcException e)
    {
        Console.Error.WriteLine($"error: {e.StatusCode}: {e.Status.Detail}");
        return 2;
    }
    catch (OperationCanceledException)
    {
        Console.Error.WriteLine("cancelled");
        return 130;
    }
    catch (Exception e)
    {
        // A person reads this: the message, not a stack trace (set BIGDATAAI_DEBUG=1 for the full exception).
        Console.Error.WriteLine($"error: {e.Message}");
        if (Environment.GetEnvironmentVariable("BIGDATAAI_DEBUG") is not null)
        {
            Console.Error.WriteLine(e);
        }
        return 2;
    }
}
