using BigDataAI.Datasets;
using BigDataAI.Training.Model;
using BigDataAI.Training.Services;
using BigDataAI.Training.Workers;

namespace BigDataAI.UnitTests.Training;

public sealed class CrossValidationTests
{
    private static readonly JobSpec Spec = new("mnist", 3, "mlp", new HyperParameters(4, 128, 1e-3, "adam", 7));

    [Fact]
    public void Each_fold_is_its_own_job_and_the_same_fold_is_the_same_job()
    {
        var fold0 = Spec with { CrossValidation = new CrossValidationSpec(4, 0) };
        var fold1 = Spec with { CrossValidation = new CrossValidationSpec(4, 1) };
        var again = Spec with { CrossValidation = new CrossValidationSpec(4, 0) };
        var soft = Spec with { HyperParameters = Spec.HyperParameters with { SoftTargets = true } };

        Assert.Equal(fold0.JobId, again.JobId);
        Assert.NotEqual(fold0.JobId, fold1.JobId);
        Assert.NotEqual(Spec.JobId, fold0.JobId);
        Assert.NotEqual(Spec.JobId, soft.JobId);
        // A job with neither keeps the id it had before they existed.
        Assert.Equal(new JobSpec("mnist", 3, "mlp", new HyperParameters(4, 128, 1e-3, "adam", 7)).JobId, Spec.JobId);
    }

    [Fact]
    public void The_folds_of_one_seed_hold_out_disjoint_sets_that_cover_every_labeled_row()
    {
        var label = new ColumnSchema("label", ColumnType.String, ColumnRole.Label);
        Table Split(long first, int rows) => new(new DatasetSchema([label]),
            [new Column(label, Enumerable.Range(0, rows).Select(r => (string?)(r % 2).ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray())],
            [.. Enumerable.Range(0, rows).Select(r => first + r)]);
        Table[] splits = [Split(0, 700), Split(700, 150), Split(850, 150)];

        var heldOut = new List<long>();
        for (var fold = 0; fold < 4; fold++)
        {
            var (train, held) = JobRunner.SplitFolds(splits, new CrossValidationSpec(4, fold), seed: 7);
            Assert.Equal(1000, train.Rows + held.Rows);
            Assert.Empty(train.RowIds.Intersect(held.RowIds));
            Assert.InRange(held.Rows, 200, 300);
            heldOut.AddRange(held.RowIds);
        }
        Assert.Equal(Enumerable.Range(0, 1000).Select(r => (long)r), heldOut.Order());
        Assert.NotEqual(JobRunner.SplitFolds(splits, new CrossValidationSpec(4, 0), seed: 7).HeldOut.RowIds,
            JobRunner.SplitFolds(splits, new CrossValidationSpec(4, 0), seed: 8).HeldOut.RowIds);
    }

    [Fact]
    public void Resolve_names_the_fold_fields_and_soft_targets_need_a_column_of_one_probability_per_class()
    {
        var folds = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(new TrainingRequest("d", 1, "mlp") { CrossValidation = new CrossValidationSpec(1, 0) }));
        Assert.Contains("'cross_validation.folds'", folds.Message, StringComparison.Ordinal);
        var fold = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(new TrainingRequest("d", 1, "mlp") { CrossValidation = new CrossValidationSpec(3, 3) }));
        Assert.Contains("'cross_validation.fold'", fold.Message, StringComparison.Ordinal);
        Assert.True(JobSubmitter.Resolve(new TrainingRequest("d", 1, "mlp") { SoftTargets = true }).HyperParameters.SoftTargets);

        var label = new ColumnSchema("label", ColumnType.String, ColumnRole.Label);
        var pixels = new ColumnSchema("x", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [4]);
        string[] classes = ["a", "b", "c"];
        var none = Assert.Throws<ArgumentException>(() => JobSubmitter.CheckSoftTargets(new DatasetSchema([pixels, label]), classes, "d v1"));
        Assert.Contains("'hyper_parameters.soft_targets'", none.Message, StringComparison.Ordinal);
        Assert.Contains("_label_probs", none.Message, StringComparison.Ordinal);
        var wide = new ColumnSchema("_label_probs", ColumnType.Tensor, ColumnRole.Ignored, Nullable: false, Shape: [2]);
        var width = Assert.Throws<ArgumentException>(() => JobSubmitter.CheckSoftTargets(new DatasetSchema([pixels, label, wide]), classes, "d v1"));
        Assert.Contains("3 values", width.Message, StringComparison.Ordinal);
        JobSubmitter.CheckSoftTargets(new DatasetSchema([pixels, label, wide with { Shape = [3] }]), classes, "d v1");
    }
}
