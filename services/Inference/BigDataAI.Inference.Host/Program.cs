using BigDataAI.Hosting;
using BigDataAI.Inference;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddModules(new InferenceModule());

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapModules();
app.Run();
