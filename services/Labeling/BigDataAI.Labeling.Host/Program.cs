using BigDataAI.Hosting;
using BigDataAI.Labeling;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddModules(new LabelingModule());

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapModules();
app.Run();
