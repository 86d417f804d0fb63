using YamlDotNet.RepresentationModel;

namespace BigDataAI.UnitTests.Deployment;

public sealed class AzureYamlTests
{
    [Fact]
    public void Azure_yaml_deploys_the_apphost_project_that_exists_to_container_apps()
    {
        var root = (YamlMappingNode)DeploymentFiles.Load(Path.Combine(DeploymentFiles.RepositoryRoot, "azure.yaml")).Single().RootNode;
        Assert.False(string.IsNullOrWhiteSpace(root.Scalar("name")));

        var services = root.Mapping("services");
        Assert.NotNull(services);
        var app = Assert.Single(services!.Children).Value;

        Assert.Equal("dotnet", app.Scalar("language"));
        Assert.Equal("containerapp", app.Scalar("host"));

        var project = app.Scalar("project") ?? throw new InvalidDataException("azure.yaml: the service names no project");
        var path = Path.GetFullPath(Path.Combine(DeploymentFiles.RepositoryRoot, project));
        Assert.True(File.Exists(path), $"azure.yaml names {project}, which does not exist");
        Assert.Equal("BigDataAI.AppHost.csproj", Path.GetFileName(path));
        Assert.Contains("Sdk=\"Aspire.AppHost.Sdk/", File.ReadAllText(path), StringComparison.Ordinal);
    }

    [Fact]
    public void Azure_yaml_tells_its_users_to_build_the_deployment_file_set_with_the_cuda_worker_image()
    {
        // azd builds the AppHost as it finds it: without BigDataAIDeploy=true it has no publish targets, without
        // BigDataAITorchBundle=cuda it refuses to publish GPU workers (docs/decisions/0012).
        var text = File.ReadAllText(Path.Combine(DeploymentFiles.RepositoryRoot, "azure.yaml"));
        Assert.Contains("BigDataAIDeploy=true BigDataAITorchBundle=cuda azd up", text, StringComparison.Ordinal);
    }
}
