using BigDataAI.Hosting;
using BigDataAI.Training;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPlatform(bus => bus.AddTrainingConsumers());
builder.AddTraining();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapTraining();
app.Run();
