using BigDataAI.Hosting;
using BigDataAI.Labeling;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPlatform(bus => bus.AddLabelingConsumers());
builder.AddLabeling();

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
