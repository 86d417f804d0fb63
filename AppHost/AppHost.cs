// BigDataAI's application model. Locally: RabbitMQ and Azurite in containers, the four hosts as processes.
// Published (azd, manifest): the same graph, with a real storage account reached through the service's identity.
//
// Every host receives ConnectionStrings__messaging (amqp://guest:<password>@<host>:<port>) and ConnectionStrings__blobs
// (an emulator connection string locally, the blob service URI when deployed) and waits until both are healthy.
// Ingestion, training and inference serve gRPC on an HTTP/2 endpoint named "grpc" (AppHostExtensions.WithGrpcEndpoint);
// a client gets one with .WithReference(ingestion.GetEndpoint("grpc")), i.e. services__ingestion__grpc__0, and calls it
// through service discovery as http://_grpc.ingestion (ServiceDefaults: AddServiceGrpcClient). Labeling only consumes
// messages; its endpoint serves /health, /alive and gRPC health.

var builder = DistributedApplication.CreateBuilder(args);

var messaging = builder.AddRabbitMQ("messaging");

var blobs = builder.AddAzureStorage("storage")
    .RunAsEmulator()
    .AddBlobs("blobs");

builder.AddProject<Projects.BigDataAI_Ingestion_Host>("ingestion")
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(blobs).WaitFor(blobs)
    .WithGrpcEndpoint();

builder.AddProject<Projects.BigDataAI_Labeling_Host>("labeling")
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(blobs).WaitFor(blobs)
    .WithHttp2Endpoint("http");

builder.AddProject<Projects.BigDataAI_Training_Host>("training")
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(blobs).WaitFor(blobs)
    .WithGrpcEndpoint();

builder.AddProject<Projects.BigDataAI_Inference_Host>("inference")
    .WithReference(messaging).WaitFor(messaging)
    .WithReference(blobs).WaitFor(blobs)
    .WithGrpcEndpoint();

builder.Build().Run();
