using BigDataAI.Hosting;
using BigDataAI.Inference;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPlatform(bus => bus.AddInferenceConsumers());
builder.AddInference();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapInference();
app.Run();
