using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Labeling.Projects;

/// <summary>
/// The labeling service's working state in one SQLite database (docs/decisions/0015-labeling-projects.md): projects,
/// their tasks (one per row, with its queue position, pre-label and progress), every label people gave, and the
/// annotators. SQLite in WAL mode with synchronous=FULL: a label is on disk before SubmitLabel answers, so none is lost
/// when the service restarts, and the queue's queries are indexed and its counts kept as counters (tasks, completed, and
/// waiting: open rows that still need labels), so the next task comes as fast at 100,000 tasks as at a thousand. Writes go through one lock (SQLite has one writer); reads run beside them.
/// </summary>
public sealed class ProjectDatabase : IDisposable
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _writer = new(1, 1);

    public ProjectDatabase(IOptions<Services.LabelingOptions> options, ILogger<ProjectDatabase> logger)
    {
        var path = Path.GetFullPath(options.Value.Database);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        FilePath = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        using var connection = Open();
        Execute(connection, Schema);
        logger.LogInformation("Labeling projects are kept in {Database}", path);
    }

    /// <summary>The database file.</summary>
    public string FilePath { get; }

    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS users (
            name TEXT PRIMARY KEY, salt BLOB NOT NULL, hash BLOB NOT NULL, roles TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS projects (
            id TEXT PRIMARY KEY, dataset TEXT NOT NULL, created_at INTEGER NOT NULL, definition TEXT NOT NULL,
            labels INTEGER NOT NULL DEFAULT 0, labels_at_retrain INTEGER NOT NULL DEFAULT 0,
            pre_label_model_id TEXT NOT NULL DEFAULT '', last_exported_version INTEGER NOT NULL DEFAULT 0,
            tasks INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0, waiting INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS tasks (
            project_id TEXT NOT NULL, row INTEGER NOT NULL, shard INTEGER NOT NULL, position INTEGER NOT NULL,
            needed INTEGER NOT NULL, labels INTEGER NOT NULL DEFAULT 0, open INTEGER NOT NULL DEFAULT 1,
            conflict INTEGER NOT NULL DEFAULT 0, resolved TEXT, current_label TEXT, pre_label TEXT,
            PRIMARY KEY (project_id, row)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (project_id, open, conflict, position);
        CREATE TABLE IF NOT EXISTS labels (
            project_id TEXT NOT NULL, row INTEGER NOT NULL, annotator TEXT NOT NULL, classes TEXT NOT NULL,
            at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, adjudication INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (project_id, row, annotator)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS labels_by_time ON labels (project_id, at);
        CREATE INDEX IF NOT EXISTS labels_by_annotator ON labels (project_id, annotator, row);
        """;

    /// <summary>A new connection (pooled), with the durability settings every connection needs.</summary>
    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;");
        return connection;
    }

    /// <summary>Runs <paramref name="write"/> in one immediate transaction, alone among this process's writers.</summary>
    public async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> write, CancellationToken cancellationToken)
    {
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = Open();
            using var transaction = connection.BeginTransaction(deferred: false);
            var result = write(connection, transaction);
            transaction.Commit();
            return result;
        }
        finally
        {
            _writer.Release();
        }
    }

    public static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, transaction, parameters);
        command.ExecuteNonQuery();
    }

    public static SqliteCommand Command(SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }

    public static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, transaction, parameters);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    public void Dispose() => _writer.Dispose();
}
