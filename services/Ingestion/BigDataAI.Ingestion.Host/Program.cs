using BigDataAI.Hosting;
using BigDataAI.Ingestion;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddModules(new IngestionModule());

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapModules();
app.Run();
