using BigDataAI.Hosting;
using BigDataAI.Training;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddModules(new TrainingWorkerModule());

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapModules();
app.Run();
