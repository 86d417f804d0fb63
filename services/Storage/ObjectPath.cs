namespace BigDataAI.Storage;

/// <summary>Validation shared by every backend, so a path means the same thing everywhere.</summary>
public static class ObjectPath
{
    public static string Validate(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path.StartsWith('/') || path.EndsWith('/') || path.Contains("//", StringComparison.Ordinal) || path.Contains('\\'))
        {
            throw new ArgumentException($"Object path '{path}' must be relative, '/'-separated and have no empty segments.", nameof(path));
        }
        foreach (var segment in path.Split('/'))
        {
            if (segment is "." or "..")
            {
                throw new ArgumentException($"Object path '{path}' must not contain '.' or '..' segments.", nameof(path));
            }
        }
        return path;
    }
}
