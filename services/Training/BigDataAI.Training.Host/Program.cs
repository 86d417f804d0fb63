using BigDataAI.Hosting;
using BigDataAI.Training;

// The training control plane: the gRPC API, job records and the scheduler. Jobs run on training workers
// (BigDataAI.TrainingWorker.Host), as many as are connected.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddModules(new TrainingControlPlaneModule());

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapModules();
app.Run();
