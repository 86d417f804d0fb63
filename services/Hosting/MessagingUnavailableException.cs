namespace BigDataAI.Hosting;

/// <summary>
/// The broker cannot take a message now (not connected, or it did not confirm within <c>Messaging:PublishTimeout</c>).
/// gRPC callers see UNAVAILABLE: worth retrying.
/// </summary>
public sealed class MessagingUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
