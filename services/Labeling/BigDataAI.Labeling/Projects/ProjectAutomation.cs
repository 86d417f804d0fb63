using System.Threading.Channels;
using BigDataAI.Client;
using BigDataAI.Labeling.Services;
using BigDataAI.Protos.Training.V1;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Labeling.Projects;

/// <summary>
/// Active learning's loop: when a project reaches its <c>retrain_every</c> new labels, its labels are exported as a new
/// dataset version, a training job of the project's model starts on it (through the training service's gRPC), and once
/// that model is served the open tasks are pre-labeled again, so the queue follows the newest model. One project's
/// rounds run one at a time; a round that fails is logged and the next round tries again.
/// </summary>
public sealed class ProjectAutomation : BackgroundService
{
    private readonly Channel<string> _due = Channel.CreateUnbounded<string>();
    private readonly ProjectService _projects;
    private readonly PreLabeler _preLabeler;
    private readonly PlatformClients _clients;
    private readonly ILogger<ProjectAutomation> _logger;

    public ProjectAutomation(ProjectService projects, PreLabeler preLabeler, PlatformClients clients, ILogger<ProjectAutomation> logger)
    {
        _projects = projects;
        _preLabeler = preLabeler;
        _clients = clients;
        _logger = logger;
        projects.RetrainDue += id => _due.Writer.TryWrite(id);
    }

    /// <summary>Rounds completed, by project (for tests and logs).</summary>
    public event Action<string, Job>? RoundCompleted;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await LoopAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping while waiting for the next due project (the channel's wait throws its own cancellation).
        }
    }

    private async Task LoopAsync(CancellationToken stoppingToken)
    {
        await foreach (var projectId in _due.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await RoundAsync(projectId, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Retraining round of project {Project} failed; the next {Every} labels start another", projectId, "retrain_every");
            }
        }
    }

    private async Task RoundAsync(string projectId, CancellationToken cancellationToken)
    {
        using var activity = ProjectService.Source.StartActivity("retrain-round");
        activity?.SetTag("bigdataai.project", projectId);
        var project = await _projects.GetAsync(projectId, cancellationToken).ConfigureAwait(false);
        var export = await _projects.ExportAsync(projectId, "automation", 0, cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Retraining {Model} for project {Project} on {Dataset} v{Version}", project.ModelName, projectId, export.Dataset, export.Version);
        var job = await _clients.Training.StartTrainingWhenLabeledAsync(
            new StartTrainingRequest { Dataset = export.Dataset, Version = export.Version, ModelName = project.ModelName },
            TimeSpan.FromMinutes(5), cancellationToken: cancellationToken).ConfigureAwait(false);
        job = await _clients.Training.WatchToEndAsync(job.JobId, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (job.State != JobState.Succeeded)
        {
            throw new InvalidOperationException($"Training job {job.JobId} for project {projectId} ended {job.State}: {job.Error}");
        }
        await _clients.Inference.WaitUntilServedAsync(project.ModelName, job.ModelId, TimeSpan.FromMinutes(5), cancellationToken).ConfigureAwait(false);
        _preLabeler.Forget(project.ModelName);
        await _preLabeler.PreLabelAsync(projectId, project.ModelName, cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Project {Project} retrained: job {Job}, model {ModelId}, tasks pre-labeled again", projectId, job.JobId, job.ModelId);
        RoundCompleted?.Invoke(projectId, job);
    }
}
