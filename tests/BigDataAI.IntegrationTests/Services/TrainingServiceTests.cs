using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Contracts.Training;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Training.V1;
using BigDataAI.Storage;
using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>The training module's gRPC API in a real host: request validation, and one real (tiny) job end to end.</summary>
[Collection(ServersCollection.Name)]
public sealed class TrainingServiceTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task StartTraining_rejects_bad_models_and_epochs_unknown_datasets_and_unlabeled_versions()
    {
        // Ingestion without labeling: the dataset exists but is never labeled.
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Training);
        using var files = new TempFolder();
        var name = "unlabeled-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(30, seed: 4));

        var model = await StartFails(host, new StartTrainingRequest { Dataset = name, Model = "resnet" });
        Assert.Equal(StatusCode.InvalidArgument, model.StatusCode);
        Assert.Contains("'model'", model.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("'resnet'", model.Status.Detail, StringComparison.Ordinal);

        var epochs = await StartFails(host, new StartTrainingRequest { Dataset = name, Model = "mlp", HyperParameters = new HyperParameters { Epochs = 5000 } });
        Assert.Equal(StatusCode.InvalidArgument, epochs.StatusCode);
        Assert.Contains("'epochs'", epochs.Status.Detail, StringComparison.Ordinal);

        var unknown = await StartFails(host, new StartTrainingRequest { Dataset = "no-such-dataset", Model = "mlp" });
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no-such-dataset", unknown.Status.Detail, StringComparison.Ordinal);

        var version = await StartFails(host, new StartTrainingRequest { Dataset = name, Version = 7, Model = "mlp" });
        Assert.Equal(StatusCode.NotFound, version.StatusCode);

        var unlabeled = await StartFails(host, new StartTrainingRequest { Dataset = name, Model = "mlp" });
        Assert.Equal(StatusCode.FailedPrecondition, unlabeled.StatusCode);
        Assert.Contains("labeled", unlabeled.Status.Detail, StringComparison.Ordinal);

        var job = await Assert.ThrowsAsync<RpcException>(async () => await host.Training.GetJobAsync(new GetJobRequest { JobId = "no-such-job" }));
        Assert.Equal(StatusCode.NotFound, job.StatusCode);
        Assert.Contains("no-such-job", job.Status.Detail, StringComparison.Ordinal);

        using var watch = host.Training.WatchJob(new GetJobRequest { JobId = "no-such-job" });
        var watched = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.NotFound, watched.StatusCode);

        Assert.Empty(await host.ListBlobsAsync("jobs/"));
    }

    [Fact]
    public async Task A_job_streams_its_epochs_checkpoints_registers_and_announces_a_model_and_is_not_run_twice()
    {
        // Reads of the training split wait until the test is watching the job, so the stream starts before epoch 1.
        var gate = new ObjectStoreGate("/labeled/train-");
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training,
            configureServices: services => services.AddSingleton<IObjectStore>(sp =>
                new GatedObjectStore(StorageRegistration.Create(sp.GetRequiredService<IConfiguration>()), gate)));
        using var files = new TempFolder();
        var name = "train-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(300, seed: 5));
        var labeled = await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);

        var request = new StartTrainingRequest
        {
            Dataset = name,
            Model = "mlp",
            HyperParameters = new HyperParameters { Epochs = 2, BatchSize = 16, Seed = 3 },
        };
        var started = await host.Training.StartTrainingAsync(request);
        Assert.Equal(name, started.Dataset);
        Assert.Equal(1, started.Version);
        Assert.Equal(2, started.Epochs);
        Assert.Contains(started.State, new[] { JobState.Queued, JobState.Running });

        var updates = new List<Job>();
        await host.Training.WatchToEndAsync(started.JobId, update =>
        {
            updates.Add(update.Clone());
            gate.Open();
        }, JobTimeout);
        foreach (var update in updates)
        {
            output.WriteLine($"{update.State} epoch {update.Epoch} batch {update.Batch}/{update.Batches} completed {update.EpochsCompleted}");
        }

        var done = updates[^1];
        Assert.True(done.State == JobState.Succeeded, $"job ended {done.State}: {done.Error}");
        Assert.Equal(0, updates[0].EpochsCompleted);
        Assert.All(updates[..^1], u => Assert.Contains(u.State, new[] { JobState.Queued, JobState.Running }));
        var completed = updates.Where(u => u.State == JobState.Running).Select(u => u.EpochsCompleted).Distinct().ToList();
        Assert.Equal([.. completed.Order()], completed);
        Assert.Contains(1, completed);
        Assert.Contains(2, completed);
        Assert.Equal(2, done.EpochsCompleted);
        Assert.Equal("cpu", done.Device);
        Assert.Equal(1, done.Attempt);
        Assert.Equal(0, done.ResumedFromEpoch);
        Assert.False(string.IsNullOrEmpty(done.WorkerId));
        Assert.Equal([1, 2], done.History.Select(e => e.Epoch));
        Assert.All(done.History, e => Assert.True(e.TrainLoss > 0 && e.SamplesPerSecond > 0, $"epoch {e.Epoch}: loss {e.TrainLoss}, {e.SamplesPerSecond} samples/s"));

        var metrics = done.TestMetrics;
        Assert.NotNull(metrics);
        Assert.InRange(metrics.Accuracy, double.Epsilon, 1.0);
        Assert.Equal(TestData.Classes, metrics.Classes);
        Assert.Equal(labeled.TestRows, metrics.Samples);
        Assert.Equal(TestData.Classes * TestData.Classes, metrics.Confusion.Count);
        Assert.Equal(labeled.TestRows, metrics.Confusion.Sum());
        Assert.Equal(TestData.Classes, metrics.Precision.Count);
        Assert.False(string.IsNullOrEmpty(done.ModelId));

        foreach (var path in new[]
        {
            $"jobs/{started.JobId}/job.json",
            $"jobs/{started.JobId}/checkpoints/epoch-001.ckpt",
            $"jobs/{started.JobId}/checkpoints/epoch-002.ckpt",
            $"models/{done.ModelId}/model.json",
        })
        {
            Assert.True(await host.BlobExistsAsync(path), $"{path} is missing");
        }
        var weights = Assert.Single((await host.ListBlobsAsync($"models/{done.ModelId}/weights-")));
        Assert.Matches($@"^models/{done.ModelId}/weights-[0-9a-f]{{16}}\.pt$", weights);
        Assert.Equal(2, (await host.ListBlobsAsync($"jobs/{started.JobId}/checkpoints/")).Count);

        var trained = await host.Messages.Published<ModelTrained>(m => m.ModelId == done.ModelId);
        Assert.Equal(name, trained.Dataset);
        Assert.Equal(1, trained.Version);
        Assert.Equal("mlp", trained.Architecture);
        Assert.Equal($"models/{done.ModelId}/model.json", trained.ModelPath);
        Assert.Equal(metrics.Accuracy, trained.TestAccuracy, 6);

        // The same spec again: the finished job, not a new run.
        var repeated = await host.Training.StartTrainingAsync(request);
        Assert.Equal(started.JobId, repeated.JobId);
        Assert.Equal(JobState.Succeeded, repeated.State);
        Assert.Equal(done.ModelId, repeated.ModelId);
        var fetched = await host.Training.GetJobAsync(new GetJobRequest { JobId = started.JobId });
        Assert.Equal(JobState.Succeeded, fetched.State);
        var models = await host.Training.ListModelsAsync(new ListModelsRequest());
        Assert.Equal([done.ModelId], models.Models.Select(m => m.ModelId));
        Assert.Single(host.Messages.PublishedSoFar<ModelTrained>(m => m.Dataset == name));
    }

    [Fact]
    public async Task A_job_with_a_training_recipe_registers_the_best_validation_epoch_and_bad_recipes_name_the_field()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training);
        using var files = new TempFolder();
        var name = "recipe-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(300, seed: 6));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);

        // Refusals that need the dataset: a class-weight count that is not its class count, dropout on logreg.
        var weights = await StartFails(host, new StartTrainingRequest { Dataset = name, Model = "mlp", HyperParameters = new HyperParameters { ClassWeights = "1,2" } });
        Assert.Equal(StatusCode.InvalidArgument, weights.StatusCode);
        Assert.Contains($"Field 'hyper_parameters.class_weights': 2 weights given, but '{name}' v1 has {TestData.Classes} classes", weights.Status.Detail, StringComparison.Ordinal);
        var dropout = await StartFails(host, new StartTrainingRequest { Dataset = name, Model = "logreg", HyperParameters = new HyperParameters { Dropout = 0.3 } });
        Assert.Equal(StatusCode.InvalidArgument, dropout.StatusCode);
        Assert.StartsWith("Field 'hyper_parameters.dropout': 'logreg' has no hidden layers", dropout.Status.Detail, StringComparison.Ordinal);
        var schedule = await StartFails(host, new StartTrainingRequest { Dataset = name, Model = "mlp", HyperParameters = new HyperParameters { LrSchedule = "step" } });
        Assert.StartsWith("Field 'hyper_parameters.step_epochs'", schedule.Status.Detail, StringComparison.Ordinal);

        var request = new StartTrainingRequest
        {
            Dataset = name,
            Model = "mlp",
            HyperParameters = new HyperParameters
            {
                Epochs = 6, BatchSize = 16, Seed = 3, Dropout = 0.2, WeightDecay = 1e-4, LrSchedule = "cosine", WarmupEpochs = 1,
                ClassWeights = "balanced", MaxGradNorm = 1, EarlyStoppingPatience = 2,
            },
        };
        var started = await host.Training.StartTrainingAsync(request);
        Assert.Equal("cosine", started.HyperParameters.LrSchedule);
        Assert.Equal("balanced", started.HyperParameters.ClassWeights);
        var done = await host.Training.WatchToEndAsync(started.JobId, _ => { }, JobTimeout);
        Assert.True(done.State == JobState.Succeeded, $"job ended {done.State}: {done.Error}");
        foreach (var e in done.History)
        {
            output.WriteLine($"epoch {e.Epoch}: lr {e.LearningRate:G4}, loss {e.TrainLoss:F4}, validation {e.ValidationAccuracy:P1}");
        }

        // The registered model is the best validation epoch's (the earliest of equal scores), and early stopping is reported.
        var scores = done.History.Select(e => e.ValidationAccuracy).ToArray();
        Assert.Equal(Array.IndexOf(scores, scores.Max()) + 1, done.BestEpoch);
        Assert.Equal(done.EpochsCompleted < 6, done.StoppedEarly);
        Assert.True(!done.StoppedEarly || done.EpochsCompleted == done.BestEpoch + 2, $"stopped at {done.EpochsCompleted} with best {done.BestEpoch}");
        // Warmup then cosine: epoch 1 starts below the base rate, epoch 2 starts at it, and later epochs start lower.
        Assert.True(done.History[0].LearningRate < done.History[1].LearningRate);
        Assert.Equal(1e-3, done.History[1].LearningRate, 12);
        Assert.True(done.History[^1].LearningRate < done.History[1].LearningRate);

        using var checkpoint = new System.IO.Compression.ZipArchive(new MemoryStream(
            await host.ReadBlobAsync($"jobs/{started.JobId}/checkpoints/epoch-{done.BestEpoch:000}.ckpt")));
        using var best = new MemoryStream();
        await checkpoint.GetEntry("model.pt")!.Open().CopyToAsync(best);
        var registered = await host.ReadBlobAsync(Assert.Single(await host.ListBlobsAsync($"models/{done.ModelId}/weights-")));
        Assert.Equal(best.ToArray(), registered);
    }

    [Fact]
    public async Task A_job_that_checkpoints_every_other_epoch_stores_only_those_and_the_setting_is_not_part_of_its_identity()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training);
        using var files = new TempFolder();
        var name = "sparse-ckpt-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(200, seed: 8));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);

        var tooSparse = await StartFails(host, new StartTrainingRequest { Dataset = name, Model = "mlp", HyperParameters = new HyperParameters { Epochs = 5, CheckpointEveryEpochs = 6 } });
        Assert.Equal(StatusCode.InvalidArgument, tooSparse.StatusCode);
        Assert.StartsWith("Field 'hyper_parameters.checkpoint_every_epochs': 6 is out of range", tooSparse.Status.Detail, StringComparison.Ordinal);

        var request = new StartTrainingRequest { Dataset = name, Model = "mlp", HyperParameters = new HyperParameters { Epochs = 5, BatchSize = 16, CheckpointEveryEpochs = 2 } };
        var started = await host.Training.StartTrainingAsync(request);
        Assert.Equal(2, started.HyperParameters.CheckpointEveryEpochs);
        var done = await host.Training.WatchToEndAsync(started.JobId, _ => { }, JobTimeout);
        Assert.True(done.State == JobState.Succeeded, $"job ended {done.State}: {done.Error}");
        Assert.Equal(5, done.EpochsCompleted);
        Assert.Equal([1, 2, 3, 4, 5], done.History.Select(e => e.Epoch));
        // Epochs 2 and 4 only; the stored record counted each epoch whose checkpoint was stored, then the success.
        Assert.Equal(
            [$"jobs/{started.JobId}/checkpoints/epoch-002.ckpt", $"jobs/{started.JobId}/checkpoints/epoch-004.ckpt"],
            (await host.ListBlobsAsync($"jobs/{started.JobId}/checkpoints/")).Order());

        // The same job with checkpoints every epoch is the same job: the model would be the same.
        var again = await host.Training.StartTrainingAsync(new StartTrainingRequest(request) { HyperParameters = new HyperParameters(request.HyperParameters) { CheckpointEveryEpochs = 0 } });
        Assert.Equal(started.JobId, again.JobId);
    }

    [Fact]
    public async Task A_job_reports_roc_pr_and_calibration_and_slices_its_test_metrics_with_fairness_differences()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference);
        using var files = new TempFolder();
        var name = "slices-" + Guid.NewGuid().ToString("N")[..8];
        var csv = Path.Combine(files.Path, "people.csv");
        SampleData.WritePeopleCsv(csv, 1500, seed: 4);
        await host.Ingestion.UploadCsvAsync(name, csv, "label");
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);

        StartTrainingRequest Request(Evaluation evaluation) => new()
        {
            Dataset = name, Model = "mlp", HyperParameters = new HyperParameters { Epochs = 4, Seed = 2 }, Evaluation = evaluation,
        };
        var unknown = await StartFails(host, Request(new Evaluation { SliceColumns = { "zip" } }));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.StartsWith($"Field 'evaluation.slice_columns': '{name}' v1 has no column 'zip'; its columns: id, age, income, city, member, note, label", unknown.Status.Detail, StringComparison.Ordinal);
        var sensitiveUnknown = await StartFails(host, Request(new Evaluation { SensitiveColumns = { "gender" } }));
        Assert.StartsWith("Field 'evaluation.sensitive_columns':", sensitiveUnknown.Status.Detail, StringComparison.Ordinal);
        var label = await StartFails(host, Request(new Evaluation { SliceColumns = { "label" } }));
        Assert.Contains("'label' is the label", label.Status.Detail, StringComparison.Ordinal);

        var started = await host.Training.StartTrainingAsync(Request(new Evaluation { SliceColumns = { "member", "age" }, SensitiveColumns = { "city" } }));
        Assert.Equal(["age", "city", "member"], started.Evaluation.SliceColumns);
        Assert.Equal(["city"], started.Evaluation.SensitiveColumns);
        var done = await host.Training.WatchToEndAsync(started.JobId, _ => { }, JobTimeout);
        Assert.True(done.State == JobState.Succeeded, $"job ended {done.State}: {done.Error}");
        var m = done.TestMetrics;
        output.WriteLine($"accuracy {m.Accuracy:F4}, macro ROC AUC {m.MacroRocAuc:F4}, macro AP {m.MacroAveragePrecision:F4}, ECE {m.Calibration.ExpectedCalibrationError:F4}");

        // Each class against the rest: two curves of at most 21 points from (0, 0) to (1, 1); areas better than chance.
        Assert.Equal(2, m.Curves.Count);
        Assert.All(m.Curves, c =>
        {
            Assert.InRange(c.RocAuc, 0.6, 1);
            Assert.InRange(c.RocFpr.Count, 2, 21);
            Assert.Equal((0.0, 1.0), (c.RocFpr[0], c.RocFpr[^1]));
        });
        Assert.Equal(m.Curves.Average(c => c.RocAuc), m.MacroRocAuc, 12);
        Assert.Equal(m.Samples, m.Calibration.Rows.Sum());
        Assert.InRange(m.Calibration.ExpectedCalibrationError, 0, 0.5);

        Assert.Equal(["age", "city", "member"], m.Slices.Select(s => s.Column));
        Assert.All(m.Slices, s => Assert.Equal(m.Samples, s.Groups.Sum(g => g.Rows)));
        var city = m.Slices.Single(s => s.Column == "city");
        foreach (var g in city.Groups)
        {
            output.WriteLine($"city {g.Value}: {g.Rows} rows, accuracy {g.Accuracy:F4}, predicted yes {g.PositiveRate:F4}, tpr {g.TruePositiveRate:F4}, fpr {g.FalsePositiveRate:F4}");
        }
        Assert.True(city.Sensitive);
        Assert.Equal(1, city.PositiveClass); // "yes", the second of the classes no, yes
        Assert.Subset(new HashSet<string> { "Bergen", "Oslo", "Stavanger", "Trondheim", "(null)" }, city.Groups.Select(g => g.Value).ToHashSet());
        Assert.Equal(city.Groups.Max(g => g.PositiveRate) - city.Groups.Min(g => g.PositiveRate), city.DemographicParityDifference, 12);
        Assert.Equal(Math.Max(city.Groups.Max(g => g.TruePositiveRate) - city.Groups.Min(g => g.TruePositiveRate), city.Groups.Max(g => g.FalsePositiveRate) - city.Groups.Min(g => g.FalsePositiveRate)),
            city.EqualizedOddsDifference, 12);
        Assert.Equal(city.Groups.Max(g => g.Accuracy) - city.Groups.Min(g => g.Accuracy), city.AccuracyGap, 12);
        // The label is "yes" for members and for people over 45 in Oslo: four epochs miss much of that interaction, so
        // Oslo is the group the model serves worst, and the slice shows it.
        Assert.Equal("Oslo", city.Groups.MinBy(g => g.Accuracy)!.Value);
        Assert.True(city.AccuracyGap > 0.2, $"accuracy gap {city.AccuracyGap:F4}");
        var age = m.Slices.Single(s => s.Column == "age");
        Assert.False(age.Sensitive);
        Assert.Equal(0, age.DemographicParityDifference);
        Assert.Contains(age.Groups, g => g.Value.StartsWith('['));
        Assert.Equal(["false", "true"], m.Slices.Single(s => s.Column == "member").Groups.Select(g => g.Value));

        // Explain one raw row of the served model: attributions per input column, adding up to the output's change.
        await host.Inference.WaitUntilServedAsync(name, done.ModelId, JobTimeout);
        var row = new Protos.Inference.V1.Row();
        row.Cells["id"] = new Protos.Inference.V1.Value { Integer = 1001 };
        row.Cells["age"] = new Protos.Inference.V1.Value { Integer = 58 };
        row.Cells["income"] = new Protos.Inference.V1.Value { Number = 81_000 };
        row.Cells["city"] = new Protos.Inference.V1.Value { Text = "Oslo" };
        row.Cells["member"] = new Protos.Inference.V1.Value { Flag = false };
        row.Cells["note"] = new Protos.Inference.V1.Value { Text = "plain" };
        var explained = await host.Inference.ExplainAsync(new Protos.Inference.V1.ExplainRequest { Model = name, Row = row, Steps = 128 });
        output.WriteLine($"explain: class {explained.ClassName} {explained.Output:F4} (baseline {explained.BaselineOutput:F4}, gap {explained.CompletenessGap:E2}): {string.Join(", ", explained.Columns.Select(c => $"{c.Column} {c.Attribution:F4}"))}");
        var inputs = (await host.Inference.GetModelAsync(new Protos.Inference.V1.GetModelRequest { Model = name })).Inputs.Select(i => i.Name).ToHashSet();
        Assert.Equal(inputs, explained.Columns.Select(c => c.Column).ToHashSet());
        Assert.Equal(explained.Columns.Select(c => Math.Abs(c.Attribution)).OrderDescending(), explained.Columns.Select(c => Math.Abs(c.Attribution)));
        Assert.True(Math.Abs(explained.CompletenessGap) < 0.01, $"completeness gap {explained.CompletenessGap}");
        Assert.Equal(explained.Output - explained.BaselineOutput, explained.Columns.Sum(c => c.Attribution), 2);
    }

    private static Task<RpcException> StartFails(ServiceHost host, StartTrainingRequest request) =>
        Assert.ThrowsAsync<RpcException>(async () => await host.Training.StartTrainingAsync(request));
}
