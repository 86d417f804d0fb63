using System.Buffers.Binary;
using BigDataAI.Protos.Training.V1;
using ScottPlot;
using SkiaSharp;

namespace BigDataAI.Cli.Tests;

public sealed class ChartsTests : IDisposable
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private readonly string _folder = Directory.CreateTempSubdirectory("bigdataai-charts-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Write_names_the_files_after_the_job_and_writes_both_charts_for_a_succeeded_job()
    {
        var job = Succeeded(classes: 10);

        var written = Charts.Write(job, job.History, _folder);

        var curves = Path.Combine(_folder, "mnist-v1-cnn-0123456789-curves.png");
        var confusion = Path.Combine(_folder, "mnist-v1-cnn-0123456789-confusion.png");
        Assert.Equal([curves, confusion], written);
        Assert.Equal((Charts.CurvesWidth, Charts.CurvesHeight), PngSize(curves));
        Assert.Equal((Charts.ConfusionWidth, Charts.ConfusionHeight), PngSize(confusion));
        Assert.True(Colours(curves) > 50, "the curves chart is (nearly) blank");
        Assert.True(Colours(confusion) > 50, "the confusion chart is (nearly) blank");
    }

    [Fact]
    public void A_failed_job_gets_curves_of_the_epochs_it_completed_and_a_job_without_data_gets_nothing()
    {
        var failed = Succeeded(classes: 10);
        failed.State = JobState.Failed;
        failed.TestMetrics = null;

        Assert.Equal([Path.Combine(_folder, "mnist-v1-cnn-0123456789-curves.png")], Charts.Write(failed, failed.History, _folder));

        var empty = new Job { JobId = "nothing-yet", State = JobState.Failed };
        var elsewhere = Path.Combine(_folder, "none");
        Assert.Empty(Charts.Write(empty, empty.History, elsewhere));
        Assert.False(Directory.Exists(elsewhere));
    }

    [Fact]
    public void Curves_draw_both_series_and_the_title_text()
    {
        var job = Succeeded(classes: 10);
        var plot = Charts.Curves(job, job.History);
        var path = Path.Combine(_folder, "curves.png");
        plot.SavePng(path, Charts.CurvesWidth, Charts.CurvesHeight);

        using var bitmap = SKBitmap.Decode(path);
        Assert.Equal(Charts.CurvesWidth, bitmap.Width);
        // ScottPlot's first two category colours: loss in blue, accuracy in orange.
        Assert.True(Near(bitmap, new SKColor(0x1f, 0x77, 0xb4)) > 200, "no train-loss line");
        Assert.True(Near(bitmap, new SKColor(0xff, 0x7f, 0x0e)) > 200, "no validation-accuracy line");
        // Above the data area there is only the title: dark pixels there are its text (none when no font was found).
        var top = (int)plot.RenderManager.LastRender.DataRect.Top;
        Assert.True(Dark(bitmap, 0, bitmap.Width, 0, top - 12) > 100, "the title has no text");
        Assert.Equal("train loss", plot.Axes.Left.Label.Text);
        Assert.Equal("validation accuracy (%)", plot.Axes.Right.Label.Text);
        Assert.Equal("epoch", plot.Axes.Bottom.Label.Text);
        Assert.Contains("mnist-v1-cnn-0123456789", plot.Axes.Title.Label.Text);
        Assert.Contains("cnn", plot.Axes.Title.Label.Text);
    }

    [Fact]
    public void Confusion_matrix_of_ten_classes_is_dark_on_the_diagonal_labelled_0_to_9_with_the_accuracy_in_the_title()
    {
        var job = Succeeded(classes: 10);
        var plot = Charts.Confusion(job);
        var path = Path.Combine(_folder, "confusion.png");
        plot.SavePng(path, Charts.ConfusionWidth, Charts.ConfusionHeight);

        using var bitmap = SKBitmap.Decode(path);
        // Actual class a is row a from the top, predicted class p column p; sample a cell's corner, away from its count.
        double Luminance(int actual, int predicted)
        {
            var pixel = plot.GetPixel(new Coordinates(predicted - 0.35, 9 - actual + 0.35));
            var c = bitmap.GetPixel((int)pixel.X, (int)pixel.Y);
            return 0.2126 * c.Red + 0.7152 * c.Green + 0.0722 * c.Blue;
        }
        for (var c = 0; c < 10; c++)
        {
            Assert.True(Luminance(c, c) < 100, $"cell {c},{c} (count 190) is not dark");
            Assert.True(Luminance(c, (c + 3) % 10) > 200, $"cell {c},{(c + 3) % 10} (count 1) is not light");
        }
        // The one large off-diagonal count (actual 4 predicted as 9) is drawn where it belongs, not transposed.
        Assert.True(Luminance(4, 9) < Luminance(9, 4) - 50, "actual and predicted are swapped");

        Assert.Equal("predicted", plot.Axes.Bottom.Label.Text);
        Assert.Equal("actual", plot.Axes.Left.Label.Text);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString()), plot.Axes.Bottom.TickGenerator.Ticks.Select(t => t.Label));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString()), plot.Axes.Left.TickGenerator.Ticks.OrderByDescending(t => t.Position).Select(t => t.Label));
        Assert.Contains("test accuracy 97.40 %", plot.Axes.Title.Label.Text);
        var top = (int)plot.RenderManager.LastRender.DataRect.Top;
        Assert.True(Dark(bitmap, 0, bitmap.Width, 0, top - 12) > 100, "the title has no text");
        // Counts are written in the cells: a light cell's centre has dark text pixels, its corner none.
        var centre = plot.GetPixel(new Coordinates(3, 9 - 0));
        Assert.True(Dark(bitmap, (int)centre.X - 12, (int)centre.X + 12, (int)centre.Y - 8, (int)centre.Y + 8) > 5, "no count in cell 0,3");
    }

    [Fact]
    public void A_confusion_matrix_that_does_not_match_its_class_count_is_refused()
    {
        var job = Succeeded(classes: 3);
        job.TestMetrics.Confusion.RemoveAt(0);

        Assert.Throws<ArgumentException>(() => Charts.Confusion(job));
        Assert.Equal([Path.Combine(_folder, "mnist-v1-cnn-0123456789-curves.png")], Charts.Write(job, job.History, _folder));
    }

    [Fact]
    public void Curves_use_the_jobs_history_else_the_epochs_seen_if_they_make_a_curve()
    {
        var job = Succeeded(classes: 10);
        EpochSummary[] seen = [new() { Epoch = 11 }, new() { Epoch = 12 }];
        Assert.Same(job.History, Charts.HistoryFor(job, seen));

        job.History.Clear();
        Assert.Equal(seen, Charts.HistoryFor(job, seen));
        Assert.Empty(Charts.HistoryFor(job, seen[1..]));

        job.EpochsCompleted = 1;
        Assert.Equal(seen[1..], Charts.HistoryFor(job, seen[1..]));
        job.EpochsCompleted = 0;
        Assert.Empty(Charts.HistoryFor(job, []));
    }

    [Fact]
    public void File_names_never_carry_a_path_separator() =>
        Assert.Equal("a_b", Charts.FileName("a/b"));

    [Fact]
    public void A_job_with_curves_and_calibration_also_gets_its_roc_pr_and_reliability_charts()
    {
        var job = Succeeded(classes: 2);
        foreach (var c in new[] { 0, 1 })
        {
            job.TestMetrics.Curves.Add(new ClassCurves
            {
                ClassIndex = c, RocAuc = 0.9, AveragePrecision = 0.85,
                RocFpr = { 0, 0.1, 0.3, 1 }, RocTpr = { 0, 0.6, 0.9, 1 }, PrRecall = { 0.2, 0.6, 0.9, 1 }, PrPrecision = { 1, 0.95, 0.8, 0.5 },
            });
        }
        (job.TestMetrics.MacroRocAuc, job.TestMetrics.MacroAveragePrecision) = (0.9, 0.85);
        job.TestMetrics.Calibration = new Calibration
        {
            ExpectedCalibrationError = 0.04,
            Rows = { 0, 0, 0, 0, 0, 10, 20, 40, 80, 200 },
            Confidence = { 0, 0, 0, 0, 0, 0.55, 0.65, 0.75, 0.85, 0.97 },
            Accuracy = { 0, 0, 0, 0, 0, 0.5, 0.6, 0.8, 0.9, 0.99 },
        };

        var written = Charts.Write(job, job.History, _folder);

        var rocPr = Path.Combine(_folder, "mnist-v1-cnn-0123456789-roc-pr.png");
        var calibration = Path.Combine(_folder, "mnist-v1-cnn-0123456789-calibration.png");
        Assert.Equal(4, written.Count);
        Assert.Equal([rocPr, calibration], written.Skip(2));
        Assert.Equal((Charts.CurvesWidth * 2, Charts.CurvesHeight), PngSize(rocPr));
        Assert.True(Colours(rocPr) > 50, "the ROC/PR chart is (nearly) blank");
        Assert.True(Colours(calibration) > 50, "the calibration chart is (nearly) blank");
    }

    private static Job Succeeded(int classes)
    {
        var job = new Job
        {
            JobId = "mnist-v1-cnn-0123456789",
            Dataset = "mnist",
            Version = 1,
            Model = "cnn",
            State = JobState.Succeeded,
            Epochs = 12,
            EpochsCompleted = 12,
            TestMetrics = new Metrics { Accuracy = 0.974, Classes = classes, Samples = 2000 },
        };
        for (var e = 1; e <= 12; e++)
        {
            job.History.Add(new EpochSummary { Epoch = e, TrainLoss = 2.3 / Math.Sqrt(e), ValidationAccuracy = 1 - 0.5 / e, SamplesPerSecond = 6000, Seconds = 1.3 });
        }
        for (var a = 0; a < classes; a++)
        {
            for (var p = 0; p < classes; p++)
            {
                job.TestMetrics.Confusion.Add(a == p ? 190 : a == 4 && p == 9 ? 120 : 1);
            }
        }
        return job;
    }

    private static (int Width, int Height) PngSize(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(PngSignature, bytes[..8]);
        Assert.Equal("IHDR"u8.ToArray(), bytes[12..16]);
        return (BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    private static int Colours(string path)
    {
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        return bitmap.Pixels.Distinct().Count();
    }

    private static int Near(SKBitmap bitmap, SKColor colour) =>
        bitmap.Pixels.Count(c => Math.Abs(c.Red - colour.Red) + Math.Abs(c.Green - colour.Green) + Math.Abs(c.Blue - colour.Blue) < 40);

    private static int Dark(SKBitmap bitmap, int x0, int x1, int y0, int y1)
    {
        var n = 0;
        for (var y = Math.Max(0, y0); y < Math.Min(bitmap.Height, y1); y++)
        {
            for (var x = Math.Max(0, x0); x < Math.Min(bitmap.Width, x1); x++)
            {
                var c = bitmap.GetPixel(x, y);
                n += c.Red + c.Green + c.Blue < 300 ? 1 : 0;
            }
        }
        return n;
    }
}
