using System.Collections.Concurrent;
using System.Text.Json;
using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Contracts.Training;
using BigDataAI.Datasets;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Models;
using BigDataAI.Models.Registry;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using InferenceProto = BigDataAI.Protos.Inference.V1;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// The registry (issue 9 item 4) in real hosts: aliases behind a promotion gate, rollback, name@alias in Predict (moved
/// under load without a failed call), tags, lineage and search.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RegistryTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly ModelSpec Spec = new() { Architecture = "mlp", InputShape = [8], Classes = 3, HiddenSizes = [16] };

    [Fact]
    public async Task Aliases_are_gated_rolled_back_and_moved_under_Predict_load_without_a_failed_call()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Training | Modules.Inference);
        var name = "reg-" + Guid.NewGuid().ToString("N")[..8];
        // Three versions trained on the same dataset version, so they share a test split: 0.60, 0.70, 0.65.
        var v1 = await RegisterAsync(host, name, seed: 1, accuracy: 0.60);
        var v2 = await RegisterAsync(host, name, seed: 2, accuracy: 0.70);
        var v3 = await RegisterAsync(host, name, seed: 3, accuracy: 0.65);
        Assert.Equal([1, 2, 3], new[] { v1, v2, v3 }.Select(r => r.ModelVersion));

        var first = await host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 1, Alias = "production" });
        Assert.Equal(("first", 1, 0), (first.Action, first.ModelVersion, first.PreviousVersion));
        await AliasReachedInferenceAsync(host, name, first.Sequence);
        Assert.Equal(1, (await PredictAsync(host, $"{name}@production")).ModelVersion);

        var better = await host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 3, Alias = "production", MinImprovement = 0.01 });
        Assert.Equal(("promote", 3, 1), (better.Action, better.ModelVersion, better.PreviousVersion));
        Assert.Equal((0.65, 0.60), (better.CandidateScore, better.HolderScore));

        // The gate: a worse candidate, and a better one short of the margin, are refused with both scores.
        var worse = await Refused(() => host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 1, Alias = "production" }));
        Assert.Equal(StatusCode.FailedPrecondition, worse.StatusCode);
        Assert.Contains($"{name}@1 does not beat {name}@production ({name}@3)", worse.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("candidate 0.6000, holder 0.6500", worse.Status.Detail, StringComparison.Ordinal);
        var margin = await Refused(() => host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 2, Alias = "production", MinImprovement = 0.1 }));
        Assert.Equal(StatusCode.FailedPrecondition, margin.StatusCode);
        Assert.Contains("candidate 0.7000, holder 0.6500; a promotion needs at least 0.7500", margin.Status.Detail, StringComparison.Ordinal);

        // Bad input.
        Assert.Equal(StatusCode.NotFound, (await Refused(() => host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 9, Alias = "production" }))).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await Refused(() => host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 2, Alias = "Prod!" }))).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await Refused(() => host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 2, Alias = "production", MinImprovement = 2 }))).StatusCode);
        var never = await Refused(() => host.Training.RollbackAliasAsync(new RollbackAliasRequest { Name = name, Alias = "staging" }));
        Assert.Equal(StatusCode.NotFound, never.StatusCode);
        Assert.Contains("has no alias 'staging'", never.Status.Detail, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await PredictAsync(host, $"{name}@staging"));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains($"Model '{name}' has no alias 'staging'; its aliases: production.", unknown.Status.Detail, StringComparison.Ordinal);

        // Under load: four loops call name@production while the alias moves four times; no call fails, and once a loop
        // sees a move's version it never sees the one before again.
        await AliasReachedInferenceAsync(host, name, better.Sequence);
        const int Loops = 4;
        var failures = new ConcurrentQueue<Exception>();
        var served = Enumerable.Range(0, Loops).Select(_ => new List<int>()).ToArray();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var loops = Enumerable.Range(0, Loops).Select(loop => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var version = (await PredictAsync(host, $"{name}@production")).ModelVersion;
                    lock (served[loop])
                    {
                        served[loop].Add(version);
                    }
                }
                catch (Exception e) when (!stop.IsCancellationRequested)
                {
                    failures.Enqueue(e);
                }
            }
        })).ToArray();
        var moves = new List<Protos.Training.V1.AliasMove>();
        try
        {
            await WaitUntilAllServedAsync(served, 3);
            foreach (var move in new Func<Task<Protos.Training.V1.AliasMove>>[]
            {
                async () => await host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 2, Alias = "production", MinImprovement = 0.01 }),
                async () => await host.Training.RollbackAliasAsync(new RollbackAliasRequest { Name = name, Alias = "production", Reason = "v2 misbehaves" }),
                async () => await host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 1, Alias = "production", Force = true, Reason = "pinned" }),
                async () => await host.Training.RollbackAliasAsync(new RollbackAliasRequest { Name = name, Alias = "production" }),
            })
            {
                var moved = await move();
                moves.Add(moved);
                await WaitUntilAllServedAsync(served, moved.ModelVersion);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(loops);
        }
        Assert.Equal([("promote", 2), ("rollback", 3), ("force", 1), ("rollback", 3)], moves.Select(m => (m.Action, m.ModelVersion)));
        Assert.Empty(failures);
        var expected = new[] { 3, 2, 3, 1, 3 };
        for (var loop = 0; loop < Loops; loop++)
        {
            var distinct = served[loop].Where((v, i) => i == 0 || served[loop][i - 1] != v).ToArray();
            output.WriteLine($"loop {loop}: {served[loop].Count} calls, versions in order {string.Join(" -> ", distinct)}");
            Assert.Equal(expected, distinct);
        }

        var history = await host.Training.GetAliasAsync(new GetAliasRequest { Name = name, Alias = "production" });
        Assert.Equal([1, 2, 3, 4, 5, 6], history.Moves.Select(m => m.Sequence));
        Assert.Equal(["first", "promote", "promote", "rollback", "force", "rollback"], history.Moves.Select(m => m.Action));
        Assert.Equal("v2 misbehaves", history.Moves[3].Reason);

        // Tags and search.
        var tagged = await host.Training.SetModelTagsAsync(new SetModelTagsRequest { Name = name, Version = 2, Set = { ["stage"] = "candidate", ["owner"] = "ana" } });
        Assert.Equal("candidate", tagged.Tags["stage"]);
        tagged = await host.Training.SetModelTagsAsync(new SetModelTagsRequest { Name = name, Version = 2, Remove = { "owner" } });
        Assert.Equal(["stage"], tagged.Tags.Keys);
        Assert.Equal([2], (await host.Training.SearchModelsAsync(new SearchModelsRequest { Name = name, Tags = { ["stage"] = "candidate" } })).Models.Select(m => m.ModelVersion));
        var production = Assert.Single((await host.Training.SearchModelsAsync(new SearchModelsRequest { Name = name, Alias = "production" })).Models);
        Assert.Equal((3, "production"), (production.ModelVersion, Assert.Single(production.Aliases)));
        Assert.Equal([3, 2], (await host.Training.SearchModelsAsync(new SearchModelsRequest { Name = name, MinTestAccuracy = 0.62 })).Models.Select(m => m.ModelVersion));
        Assert.Equal($"job-{v2.ModelId}", (await host.Training.SearchModelsAsync(new SearchModelsRequest { Name = name, Tags = { ["stage"] = "candidate" } })).Models[0].JobId);
        Assert.Equal(StatusCode.InvalidArgument, (await Refused(() => host.Training.SearchModelsAsync(new SearchModelsRequest { Limit = -1 }))).StatusCode);
    }

    [Fact]
    public async Task A_model_of_a_new_dataset_version_is_gated_on_its_own_test_split_where_the_holder_was_scored()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training);
        using var files = new TempFolder();
        var name = "gate-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(300, seed: 5));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);
        var job1 = await TrainAsync(host, new StartTrainingRequest { Dataset = name, Model = "mlp", HyperParameters = new() { Epochs = 1, Seed = 1 }, Tags = { ["team"] = "vision" } });
        await host.Training.PromoteModelAsync(new PromoteModelRequest { Name = name, Version = 1, Alias = "production" });

        // Dataset v2 has every fourth label moved to the next class, so no model scores 1 on its test split.
        var (images, labels) = TestData.Idx(300, seed: 9);
        for (var i = 8; i < labels.Length; i += 4)
        {
            labels[i] = (byte)((labels[i] + 1) % TestData.Classes);
        }
        await host.Ingestion.UploadIdxAsync(files, name, (images, labels));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 2);
        var job2 = await TrainAsync(host, new StartTrainingRequest { Dataset = name, Version = 2, Model = "mlp", HyperParameters = new() { Epochs = 3, Seed = 1 } });

        // When v2 was registered, production's holder (v1, trained on dataset v1) was scored on v2's test split.
        var registry = host.Services.GetRequiredService<ModelRegistry>();
        var candidate = (await registry.FindAsync(name, 2))!;
        var holder = (await registry.FindAsync(name, 1))!;
        var comparison = Assert.Single(candidate.Comparisons);
        Assert.Equal((holder.ModelId, 1), (comparison.ModelId, comparison.ModelVersion));
        Assert.Null(comparison.Error);
        Assert.True(comparison.Score < holder.TestAccuracy, $"v1 scores {comparison.Score} on v2's noisy split and {holder.TestAccuracy} on its own: the test needs them apart");
        // The test scores v1 on that split itself: the same figure.
        var datasets = host.Services.GetRequiredService<DatasetStore>();
        var labeled = (await datasets.GetLabeledAsync(name, 2))!;
        using (var weights = new MemoryStream(await registry.ReadWeightsAsync(holder)))
        using (var model = ModelWeights.Load(holder.Spec, weights, "cpu"))
        {
            var expected = Evaluator.Evaluate(model, holder.Spec, new SplitTrainingShards(datasets, labeled, Splits.Test, holder.Features!)).Accuracy;
            Assert.Equal(expected, comparison.Score!.Value, 12);
        }
        output.WriteLine($"v1 scores {holder.TestAccuracy:F4} on its own test split and {comparison.Score:F4} on v2's; v2 scores {candidate.TestAccuracy:F4}");

        // The gate compares on v2's split: the holder's figure is the comparison, not its own test score.
        var request = new PromoteModelRequest { Name = name, Version = 2, Alias = "production" };
        if (candidate.TestAccuracy >= comparison.Score!.Value)
        {
            var move = await host.Training.PromoteModelAsync(request);
            Assert.Equal((candidate.TestAccuracy, comparison.Score.Value), (move.CandidateScore, move.HolderScore));
        }
        else
        {
            var refused = await Refused(() => host.Training.PromoteModelAsync(request));
            Assert.Contains($"candidate {candidate.TestAccuracy:F4}, holder {comparison.Score:F4}", refused.Status.Detail, StringComparison.Ordinal);
        }

        // Runs: by tag, dataset version, state and test score; lineage from the model back to its job.
        Assert.Equal([job1.JobId], (await host.Training.SearchJobsAsync(new SearchJobsRequest { Tags = { ["team"] = "vision" } })).Jobs.Select(j => j.JobId));
        Assert.Equal([job2.JobId], (await host.Training.SearchJobsAsync(new SearchJobsRequest { Dataset = name, DatasetVersion = 2 })).Jobs.Select(j => j.JobId));
        Assert.Equal([job2.JobId, job1.JobId], (await host.Training.SearchJobsAsync(new SearchJobsRequest { Dataset = name, State = JobState.Succeeded })).Jobs.Select(j => j.JobId));
        Assert.Equal([job1.JobId], (await host.Training.SearchJobsAsync(new SearchJobsRequest { Dataset = name, MinTestAccuracy = job2.TestMetrics.Accuracy + 1e-9 })).Jobs.Select(j => j.JobId));
        Assert.Equal([job2.JobId], (await host.Training.SearchJobsAsync(new SearchJobsRequest { Dataset = name, MinTestAccuracy = 0.01, MaxTestAccuracy = job2.TestMetrics.Accuracy })).Jobs.Select(j => j.JobId));
        var info = Assert.Single((await host.Training.SearchModelsAsync(new SearchModelsRequest { Name = name, DatasetVersion = 2 })).Models);
        Assert.Equal((job2.JobId, name, 2), (info.JobId, info.Dataset, info.Version));
    }

    [Fact]
    public async Task The_cli_promotes_refuses_rolls_back_shows_the_history_tags_and_searches()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Training | Modules.Inference);
        var name = "cli-" + Guid.NewGuid().ToString("N")[..8];
        await RegisterAsync(host, name, seed: 1, accuracy: 0.60);
        await RegisterAsync(host, name, seed: 2, accuracy: 0.70);
        await RegisterAsync(host, name, seed: 3, accuracy: 0.65);

        var first = await CliAsync(host, "promote", "--name", name, "--version", "1", "--alias", "production");
        Assert.Equal((0, $"{name}@production -> v1, move 1, first"), (first.Exit, first.Out.Trim()));
        var better = await CliAsync(host, "promote", "--name", name, "--version", "3", "--alias", "production", "--min-improvement", "0.01");
        Assert.Equal((0, $"{name}@production -> v3 (was v1), move 2, promote: 0.6500 beats the holder's 0.6000 on the same split by at least 0.0100"), (better.Exit, better.Out.Trim()));
        var worse = await CliAsync(host, "promote", "--name", name, "--version", "1", "--alias", "production");
        Assert.Equal(2, worse.Exit);
        Assert.StartsWith("error: FailedPrecondition: ", worse.Error, StringComparison.Ordinal);
        Assert.Contains("candidate 0.6000, holder 0.6500", worse.Error, StringComparison.Ordinal);
        var back = await CliAsync(host, "rollback", "--name", name, "--alias", "production", "--reason", "v3 misbehaves");
        Assert.Equal((0, $"{name}@production -> v1 (was v3), move 3, rollback; v3 misbehaves"), (back.Exit, back.Out.Trim()));

        var history = await CliAsync(host, "alias", "--name", name, "--alias", "production");
        Assert.Equal(0, history.Exit);
        var lines = history.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith($"{name}@production points at v1 ({name}-m1)", lines[0], StringComparison.Ordinal);
        Assert.Equal(["first", "promote", "rollback"], lines.Skip(2).Select(l => l.Split("  ", StringSplitOptions.RemoveEmptyEntries)[2].Trim()));

        var tagged = await CliAsync(host, "tag", "--name", name, "--version", "2", "--tag", "stage=candidate", "--tag", "owner=ana");
        Assert.Equal(0, tagged.Exit);
        Assert.Contains("owner=ana,stage=candidate", tagged.Out, StringComparison.Ordinal);
        var found = await CliAsync(host, "models", "--name", name, "--tag", "stage=candidate");
        Assert.Equal(0, found.Exit);
        Assert.Contains($"{name}@2 ", found.Out, StringComparison.Ordinal);
        Assert.DoesNotContain($"{name}@1 ", found.Out, StringComparison.Ordinal);
        var held = await CliAsync(host, "models", "--name", name, "--alias", "production");
        Assert.Contains($"{name}@1 ", held.Out, StringComparison.Ordinal);
        Assert.DoesNotContain($"{name}@3 ", held.Out, StringComparison.Ordinal);
        Assert.Equal("no models match", (await CliAsync(host, "models", "--name", name, "--min-score", "0.9")).Out.Trim());
        Assert.Equal("no runs match", (await CliAsync(host, "runs", "--dataset", name)).Out.Trim());

        var badState = await CliAsync(host, "runs", "--state", "done");
        Assert.Equal((2, "error: --state 'done': use queued, running, succeeded, failed or stopped."), (badState.Exit, badState.Error.Trim()));
        var badTag = await CliAsync(host, "tag", "--name", name, "--version", "2", "--tag", "stage");
        Assert.Equal((2, "error: --tag 'stage': write KEY=VALUE."), (badTag.Exit, badTag.Error.Trim()));
        var missing = await CliAsync(host, "rollback", "--name", name, "--alias", "staging");
        Assert.Equal(2, missing.Exit);
        Assert.StartsWith("error: NotFound: ", missing.Error, StringComparison.Ordinal);
    }

    /// <summary>Runs the built CLI (services/Cli, the same configuration) against <paramref name="host"/>.</summary>
    private async Task<(int Exit, string Out, string Error)> CliAsync(ServiceHost host, params string[] args)
    {
        var (configuration, tfm) = EndToEnd.HostBuilds.OfTestAssembly();
        var cli = Path.Combine(EndToEnd.HostBuilds.RepositoryRoot(), "services", "Cli", "bin", configuration, tfm, "bigdataai.dll");
        Assert.True(File.Exists(cli), $"{cli} does not exist: build it with `dotnet build services/Cli/BigDataAI.Cli.csproj -c {configuration}`.");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { cli }.Concat(args).Concat(["--server", host.Address]))
        {
            start.ArgumentList.Add(arg);
        }
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var result = (process.ExitCode, await stdout, await stderr);
        output.WriteLine($"$ bigdataai {string.Join(' ', args)}\n{result.Item2}{result.Item3}(exit {result.ExitCode})");
        return result;
    }

    private static async Task<Job> TrainAsync(ServiceHost host, StartTrainingRequest request)
    {
        var started = await host.Training.StartTrainingAsync(request);
        var done = await host.Training.WatchToEndAsync(started.JobId, _ => { }, TimeSpan.FromSeconds(90));
        Assert.True(done.State == JobState.Succeeded, $"job ended {done.State}: {done.Error}");
        return done;
    }

    private static async Task<RpcException> Refused<T>(Func<AsyncUnaryCall<T>> call) =>
        await Assert.ThrowsAsync<RpcException>(async () => await call());

    private static Task<InferenceProto.PredictReply> PredictAsync(ServiceHost host, string model)
    {
        var request = new InferenceProto.PredictRequest { Model = model };
        request.Inputs.Add(new InferenceProto.Input { Features = { Enumerable.Range(0, 8).Select(i => i / 8f) } });
        return host.Inference.PredictAsync(request).ResponseAsync;
    }

    private static Task AliasReachedInferenceAsync(ServiceHost host, string name, int sequence) =>
        host.Messages.Consumed<ModelAliasMoved>("inference", m => m.Name == name && m.Sequence == sequence);

    private static async Task WaitUntilAllServedAsync(List<int>[] served, int version)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!served.All(s => { lock (s) { return s.Count > 0 && s[^1] == version; } }))
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    private static Task<ModelRecord> RegisterAsync(ServiceHost host, string name, int seed, double accuracy) =>
        SeededModels.RegisterAsync(host, name, Spec, seed, accuracy);

}
