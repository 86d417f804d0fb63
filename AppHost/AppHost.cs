// BigDataAI's application model. Locally: RabbitMQ and Azurite in containers, the hosts as processes.
// Published: the same graph on Azure Container Apps (the default; `azd up`) or as a Helm chart for Kubernetes
// (BIGDATAAI_PUBLISH_TARGET=k8s), with the training workers on GPUs in both (AppHostExtensions.PublishOnGpus).
//
// Every host receives ConnectionStrings__messaging (amqp://guest:<password>@<host>:<port>) and ConnectionStrings__blobs
// (an emulator connection string locally, the blob service URI on Container Apps, a connection string supplied at install
// time on Kubernetes) and waits until both are healthy.
// Every host has an HTTP/1.1 endpoint "http" (container port 8080) for /health and /alive, probed by the platform.
// Ingestion, the training control plane and inference also serve gRPC on an HTTP/2 endpoint "grpc" (container port 8081);
// a client gets one with .WithReference(ingestion.GetEndpoint("grpc")), i.e. services__ingestion__grpc__0, and calls it
// through service discovery as http://_grpc.ingestion (ServiceDefaults: AddServiceGrpcClient). The control plane's "http"
// endpoint also serves GET /training/queue, which the workers' autoscaler reads.

var builder = DistributedApplication.CreateBuilder(args);

var target = builder.AddComputeEnvironment();

var messaging = builder.AddRabbitMQ("messaging");

var blobs = builder.AddBlobStore(target);

builder.AddProject<Projects.BigDataAI_Ingestion_Host>("ingestion")
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(blobs).WaitFor(blobs)
    .WithGrpcEndpoint()
    .WithProbeEndpoint();

builder.AddProject<Projects.BigDataAI_Labeling_Host>("labeling")
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(blobs).WaitFor(blobs)
    .WithProbeEndpoint();

var training = builder.AddProject<Projects.BigDataAI_Training_Host>("training")
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(blobs).WaitFor(blobs)
    .WithGrpcEndpoint()
    .WithProbeEndpoint();

// Workers announce themselves to the control plane over RabbitMQ and own their jobs through blob leases, so they need
// no reference to the control plane and may come and go at any time.
builder.AddProject<Projects.BigDataAI_TrainingWorker_Host>("training-worker")
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(blobs).WaitFor(blobs)
    .WithProbeEndpoint()
    .PublishOnGpus(target, controlPlane: training);

builder.AddProject<Projects.BigDataAI_Inference_Host>("inference")
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(blobs).WaitFor(blobs)
    .WithGrpcEndpoint()
    .WithProbeEndpoint();

builder.Build().Run();
