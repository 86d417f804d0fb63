// BigDataAI's application model.
//
// Locally (`dotnet run --project AppHost`): RabbitMQ and Azurite as processes (or containers, BIGDATAAI_INFRASTRUCTURE=containers),
// the four service hosts and a training worker as projects, each waiting until the broker and the blob store are healthy,
// and the Aspire dashboard with every resource's logs, traces and metrics.
// Published (`azd up`, `aspire publish`): the same graph on Azure Container Apps or as a Helm chart for Kubernetes, from
// the deployment file set (Deploy/, built with -p:BigDataAIDeploy=true where its packages restore; see README.md).
//
// Every host receives ConnectionStrings__messaging (amqp://guest:<password>@<host>:<port>) and ConnectionStrings__blobs
// (an emulator connection string locally, the blob service URI on Container Apps, a secret's value on Kubernetes).
// Every host has an HTTP/1.1 endpoint "http" for /health and /alive; ingestion, the training control plane and inference
// also serve gRPC on an HTTP/2 endpoint "grpc". The control plane's "http" endpoint also serves GET /training/queue,
// which the workers' autoscaler reads.

using Aspire.Hosting;
using Microsoft.Extensions.Configuration;

DistributedApplication app;
try
{
    var builder = DistributedApplication.CreateBuilder(args);

    // Nothing the project runs reaches out on its own: no check of NuGet for a newer Aspire, no dashboard usage telemetry.
    // Added last, so no setting can turn them back on.
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["ASPIRE_VERSION_CHECK_DISABLED"] = "true",
        ["ASPIRE_DASHBOARD_TELEMETRY_OPTOUT"] = "true",
    });

    var infrastructure = builder.ExecutionContext.IsPublishMode
        ? Publishing.AddPublishedInfrastructure(builder)
        : builder.AddLocalInfrastructure();

    builder.AddService<Projects.BigDataAI_Ingestion_Host>("ingestion", infrastructure).WithGrpcEndpoint().WithProbeEndpoint();

    // The labeling page is served on the HTTP/1.1 endpoint (browsers do not speak cleartext HTTP/2); the dashboard links it.
    var labeling = builder.AddService<Projects.BigDataAI_Labeling_Host>("labeling", infrastructure).WithGrpcEndpoint().WithProbeEndpoint()
        .WithUrlForEndpoint("http", url =>
        {
            url.Url = "/labeling/";
            url.DisplayText = "Labeling page";
        });

    var training = builder.AddService<Projects.BigDataAI_Training_Host>("training", infrastructure).WithGrpcEndpoint().WithProbeEndpoint();

    // BIGDATAAI_AUTOTRAIN_MODEL (e.g. mlp): train every newly labeled dataset version with that catalog model, so that an
    // upload ends in a served model and the dashboard shows one trace from the upload to the model swap.
    if (builder.Configuration[Services.AutoTrainModelKey] is { Length: > 0 } autoTrain)
    {
        training.WithEnvironment("Training__AutoTrainModel", autoTrain);
    }

    // Workers announce themselves to the control plane over RabbitMQ and own their jobs through blob leases, so they need
    // no reference to the control plane and may come and go at any time.
    builder.AddService<Projects.BigDataAI_TrainingWorker_Host>("training-worker", infrastructure).WithProbeEndpoint()
        .PublishOnGpus(controlPlane: training);

    var inference = builder.AddService<Projects.BigDataAI_Inference_Host>("inference", infrastructure).WithGrpcEndpoint().WithProbeEndpoint();

    // Labeling calls inference (pre-labels, model votes) and training (retraining, k-fold jobs for label errors) over
    // gRPC; it finds them through the service-discovery settings a reference gives (services__inference__grpc__0).
    labeling.WithReference(inference).WithReference(training);
    if (!builder.ExecutionContext.IsPublishMode)
    {
        // Projects, tasks and labels are kept in SQLite, beside the broker's and the blob store's data.
        labeling.WithEnvironment("Labeling__Database", Path.Combine(LocalInfrastructure.DataFolder(builder), "labeling", "labeling.db"));
    }

    app = builder.Build();
}
catch (DistributedApplicationException e)
{
    // A missing program, a bad setting, a publish the build cannot do: the message says what to do; a stack trace would
    // only bury it. Failures once the application runs are reported by Aspire itself.
    Console.Error.WriteLine(e.Message);
    return 2;
}

app.Run();
return 0;
