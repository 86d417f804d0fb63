using BigDataAI.Hosting;
using BigDataAI.Training;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPlatform(bus => bus.AddTrainingWorkerConsumers());
builder.AddTrainingWorker();

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
