using YamlDotNet.RepresentationModel;

namespace BigDataAI.UnitTests.Deployment;

/// <summary>The repository's deployment files, read from the source tree (the folder that holds BigDataAI.sln).</summary>
internal static class DeploymentFiles
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string KubernetesFolder => Path.Combine(RepositoryRoot, "deploy", "kubernetes");

    public static string KustomizationPath => Path.Combine(KubernetesFolder, "kustomization.yaml");

    /// <summary>Every manifest file in deploy/kubernetes except kustomization.yaml (kustomize's own configuration).</summary>
    public static IReadOnlyList<string> ManifestFiles() =>
        Directory.EnumerateFiles(KubernetesFolder)
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
            .Where(f => Path.GetFileName(f) != "kustomization.yaml")
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>Every YAML document of every manifest file, with the file it came from.</summary>
    public static IReadOnlyList<(string File, YamlMappingNode Document)> ManifestDocuments()
    {
        var documents = new List<(string, YamlMappingNode)>();
        foreach (var file in ManifestFiles())
        {
            foreach (var document in Load(file))
            {
                var root = document.RootNode as YamlMappingNode
                    ?? throw new InvalidDataException($"{Path.GetFileName(file)}: a document is not a mapping");
                documents.Add((Path.GetFileName(file), root));
            }
        }
        return documents;
    }

    public static IReadOnlyList<YamlDocument> Load(string path)
    {
        using var reader = new StreamReader(path);
        var stream = new YamlStream();
        stream.Load(reader);
        return stream.Documents.Where(d => d.RootNode is not YamlScalarNode { Value: null or "" }).ToList();
    }

    public static IEnumerable<YamlMappingNode> OfKind(this IEnumerable<(string File, YamlMappingNode Document)> documents, string kind) =>
        documents.Where(d => d.Document.Scalar("kind") == kind).Select(d => d.Document);

    /// <summary>The scalar at a dotted path of keys (so no key may contain a dot), or null.</summary>
    public static string? Scalar(this YamlNode node, string path) => node.Node(path) is YamlScalarNode scalar ? scalar.Value : null;

    public static YamlMappingNode? Mapping(this YamlNode node, string path) => node.Node(path) as YamlMappingNode;

    public static IReadOnlyList<YamlMappingNode> Sequence(this YamlNode node, string path) =>
        node.Node(path) is YamlSequenceNode sequence ? sequence.Children.OfType<YamlMappingNode>().ToList() : [];

    public static YamlNode? Node(this YamlNode node, string path)
    {
        YamlNode? current = node;
        foreach (var key in path.Split('.'))
        {
            if (current is not YamlMappingNode mapping || !mapping.Children.TryGetValue(new YamlScalarNode(key), out current))
            {
                return null;
            }
        }
        return current;
    }

    public static string Name(this YamlMappingNode document) => document.Scalar("metadata.name") ?? "";

    /// <summary>The containers of a Deployment's pod template.</summary>
    public static IReadOnlyList<YamlMappingNode> Containers(this YamlMappingNode deployment) =>
        deployment.Sequence("spec.template.spec.containers");

    /// <summary>A container's environment variable by name, or null.</summary>
    public static YamlMappingNode? EnvVar(this YamlMappingNode container, string name) =>
        container.Sequence("env").FirstOrDefault(e => e.Scalar("name") == name);

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "BigDataAI.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"No BigDataAI.sln above {AppContext.BaseDirectory}: the deployment tests read the source tree.");
    }
}
