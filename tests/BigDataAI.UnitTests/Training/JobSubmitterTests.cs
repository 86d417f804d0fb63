using BigDataAI.Datasets;
using BigDataAI.Models;
using BigDataAI.Training.Model;
using BigDataAI.Training.Services;

namespace BigDataAI.UnitTests.Training;

public sealed class JobSubmitterTests
{
    private static TrainingRequest Request(string model = "mlp", int epochs = 0, int batchSize = 0, double learningRate = 0, string? optimizer = null, long seed = 0) =>
        new("mnist", 1, model, epochs, batchSize, learningRate, optimizer, seed);

    [Fact]
    public void Resolve_Cnn_DefaultsTo12EpochsBatch128Adam1e3Seed1()
    {
        var (model, hyper) = JobSubmitter.Resolve(Request("cnn"));

        Assert.Equal("cnn", model);
        Assert.Equal(new HyperParameters(12, 128, 1e-3, "adam", 1), hyper);
    }

    [Fact]
    public void Resolve_Mlp_DefaultsTo10Epochs()
    {
        var (model, hyper) = JobSubmitter.Resolve(Request("mlp"));

        Assert.Equal("mlp", model);
        Assert.Equal(new HyperParameters(10, 128, 1e-3, "adam", 1), hyper);
    }

    [Fact]
    public void Resolve_Sgd_DefaultsToLearningRate005()
    {
        var (_, hyper) = JobSubmitter.Resolve(Request("mlp", optimizer: "sgd"));

        Assert.Equal(new HyperParameters(10, 128, 0.05, "sgd", 1), hyper);
    }

    [Fact]
    public void Resolve_ExplicitValues_AreKept_AndNamesAreNormalised()
    {
        var (model, hyper) = JobSubmitter.Resolve(Request(" CNN ", epochs: 3, batchSize: 32, learningRate: 0.25, optimizer: " SGD", seed: 99));

        Assert.Equal("cnn", model);
        Assert.Equal(new HyperParameters(3, 32, 0.25, "sgd", 99), hyper);
    }

    [Theory]
    [InlineData("resnet", "resnet")]
    [InlineData("cnn2", "cnn2")]
    public void Resolve_UnknownModel_NamesTheFieldAndTheCatalogsChoices(string model, string shown)
    {
        var e = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(Request(model)));

        Assert.Equal($"Field 'model': '{shown}' is not a known model; use one of mlp, logreg, cnn, fasttext, minilm (or leave it empty for the dataset's default).", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    public void Resolve_NoModel_IsTheCatalogsDefaultForTheColumns(string? model)
    {
        var pixels = new DatasetSchema([new ColumnSchema("pixels", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [28, 28]), new ColumnSchema("label", ColumnType.Int64, ColumnRole.Label)]);
        var table = new DatasetSchema([new ColumnSchema("age", ColumnType.Int64, ColumnRole.Feature), new ColumnSchema("city", ColumnType.String, ColumnRole.Feature), new ColumnSchema("label", ColumnType.String, ColumnRole.Label)]);

        Assert.Equal(("cnn", 12), Pick(JobSubmitter.Resolve(Request() with { Model = model! }, pixels)));
        Assert.Equal(("mlp", 10), Pick(JobSubmitter.Resolve(Request() with { Model = model! }, table)));
        Assert.Equal("mlp", JobSubmitter.Resolve(Request() with { Model = model! }).Model);

        static (string, int) Pick((string Model, HyperParameters H) r) => (r.Model, r.H.Epochs);
    }

    [Fact]
    public void The_catalog_says_which_models_take_which_columns()
    {
        var image = new DatasetSchema([new ColumnSchema("pixels", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [28, 28]), new ColumnSchema("label", ColumnType.Int64, ColumnRole.Label)]);
        var table = new DatasetSchema([new ColumnSchema("age", ColumnType.Int64, ColumnRole.Feature), new ColumnSchema("label", ColumnType.String, ColumnRole.Label)]);

        Assert.True(ModelCatalog.Find("cnn")!.CanTake(image));
        Assert.False(ModelCatalog.Find("cnn")!.CanTake(table));
        Assert.True(ModelCatalog.Find("mlp")!.CanTake(table));
        Assert.True(ModelCatalog.Find(" LogReg ")!.CanTake(image));
        var five = new BigDataAI.Models.Features.FeaturePipeline
        {
            LabelColumn = "label",
            Steps = [new BigDataAI.Models.Features.TensorFeature { Column = "x", Type = ColumnType.Tensor, Shape = [5] }],
        };
        Assert.Empty(ModelCatalog.Find("logreg")!.SpecFor(five, 3).HiddenSizes);
        Assert.Equal([5], ModelCatalog.Find("logreg")!.SpecFor(five, 3).InputShape);
        Assert.Equal(["mlp", "logreg", "cnn", "fasttext", "minilm"], ModelCatalog.Names);
        var text = new DatasetSchema([new ColumnSchema("review", ColumnType.String, ColumnRole.Text), new ColumnSchema("label", ColumnType.String, ColumnRole.Label)]);
        var textAndMore = new DatasetSchema([.. text.Columns, new ColumnSchema("stars", ColumnType.Int64, ColumnRole.Feature)]);
        Assert.Equal("fasttext", ModelCatalog.DefaultFor(text).Name);
        Assert.Equal("minilm", ModelCatalog.DefaultFor(textAndMore).Name);
        Assert.False(ModelCatalog.Find("mlp")!.CanTake(text));
    }

    [Theory]
    [InlineData("rmsprop")]
    [InlineData("adamw")]
    public void Resolve_UnknownOptimizer_NamesTheField(string optimizer)
    {
        var e = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(Request(optimizer: optimizer)));

        Assert.Equal($"Field 'optimizer': '{optimizer}' is not supported; use one of adam, sgd.", e.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(-1000)]
    [InlineData(1001)]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    public void Resolve_EpochsOutOfRange_NamesTheField(int epochs)
    {
        var e = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(Request(epochs: epochs)));

        Assert.Equal($"Field 'epochs': {epochs} is out of range; use 1 to 1000.", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public void Resolve_EpochsAtTheLimits_AreAccepted(int epochs) =>
        Assert.Equal(epochs, JobSubmitter.Resolve(Request(epochs: epochs)).HyperParameters.Epochs);

    [Theory]
    [InlineData(-1)]
    [InlineData(65537)]
    [InlineData(int.MinValue)]
    public void Resolve_BatchSizeOutOfRange_NamesTheField(int batchSize)
    {
        var e = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(Request(batchSize: batchSize)));

        Assert.Equal($"Field 'batch_size': {batchSize} is out of range; use 1 to 65536.", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(65536)]
    public void Resolve_BatchSizeAtTheLimits_IsAccepted(int batchSize) =>
        Assert.Equal(batchSize, JobSubmitter.Resolve(Request(batchSize: batchSize)).HyperParameters.BatchSize);

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    [InlineData(-0.001)]
    [InlineData(-1e-300)]
    [InlineData(10.000001)]
    [InlineData(1e6)]
    public void Resolve_LearningRateOutOfRange_NamesTheField(double learningRate)
    {
        var e = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(Request(learningRate: learningRate)));

        Assert.StartsWith("Field 'learning_rate': ", e.Message);
        Assert.EndsWith(" is out of range; use a number in (0, 10].", e.Message);
    }

    [Theory]
    [InlineData(1e-12)]
    [InlineData(10.0)]
    public void Resolve_LearningRateAtTheLimits_IsAccepted(double learningRate) =>
        Assert.Equal(learningRate, JobSubmitter.Resolve(Request(learningRate: learningRate)).HyperParameters.LearningRate);

    [Theory]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    [InlineData(int.MaxValue + 1L)]
    [InlineData(long.MaxValue)]
    public void Resolve_SeedOutOfRange_NamesTheField(long seed)
    {
        // The trainer seeds torch with an int: a larger seed must be refused here, not fail the queued job later.
        var e = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(Request(seed: seed)));

        Assert.Equal($"Field 'seed': {seed} is out of range; use 0 to {int.MaxValue}.", e.Message);
    }

    [Fact]
    public void Resolve_LargestSeed_IsAccepted() =>
        Assert.Equal(int.MaxValue, JobSubmitter.Resolve(Request(seed: int.MaxValue)).HyperParameters.Seed);

    [Fact]
    public void Resolve_ModelIsCheckedFirst_SoTheFirstBadFieldIsReported()
    {
        var e = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(Request("vit", epochs: -1, optimizer: "lion")));

        Assert.StartsWith("Field 'model':", e.Message);
    }

    [Fact]
    public void Resolve_Recipe_KeepsEachFieldAndNormalisesClassWeights()
    {
        var request = Request("mlp", epochs: 8) with
        {
            WeightDecay = 1e-4, Dropout = 0.25, LrSchedule = " Step ", StepEpochs = 3, WarmupEpochs = 1,
            EarlyStoppingPatience = 2, EarlyStoppingMinDelta = 0.005, ClassWeights = "1, 2.50 ,1", MaxGradNorm = 5,
        };
        var (_, hyper) = JobSubmitter.Resolve(request);

        Assert.Equal(new HyperParameters(8, 128, 1e-3, "adam", 1)
        {
            WeightDecay = 1e-4, Dropout = 0.25, LrSchedule = "step", StepEpochs = 3, StepGamma = 0.1, WarmupEpochs = 1,
            EarlyStoppingPatience = 2, EarlyStoppingMinDelta = 0.005, ClassWeights = "1,2.5,1", MaxGradNorm = 5,
        }, hyper);
        Assert.Equal("balanced", JobSubmitter.Resolve(Request() with { ClassWeights = "Balanced" }).HyperParameters.ClassWeights);
    }

    public static TheoryData<TrainingRequest, string> BadRecipes() => new()
    {
        { Request() with { WeightDecay = -0.1 }, "Field 'hyper_parameters.weight_decay': -0.1 is out of range; use 0 (none) to 1." },
        { Request() with { Dropout = 1 }, "Field 'hyper_parameters.dropout': 1 is out of range; use 0 (none) up to, not including, 1." },
        { Request("logreg") with { Dropout = 0.5 }, "Field 'hyper_parameters.dropout': 'logreg' has no hidden layers to drop from; use 0, or a model with hidden layers (mlp, cnn, minilm, fasttext)." },
        { Request() with { LrSchedule = "linear" }, "Field 'hyper_parameters.lr_schedule': 'linear' is not a schedule; use one of constant, step, cosine." },
        { Request(epochs: 4) with { WarmupEpochs = 4 }, "Field 'hyper_parameters.warmup_epochs': 4 is out of range; use 0 to 3 (below the job's 4 epochs)." },
        { Request() with { LrSchedule = "step" }, "Field 'hyper_parameters.step_epochs': 0 is out of range for the 'step' schedule; use 1 to 10." },
        { Request() with { StepEpochs = 2 }, "Field 'hyper_parameters.step_epochs': 2 applies to lr_schedule 'step' only, not 'constant'." },
        { Request() with { LrSchedule = "step", StepEpochs = 2, StepGamma = 2 }, "Field 'hyper_parameters.step_gamma': 2 is out of range; use a number in (0, 1] (0 means 0.1)." },
        { Request() with { EarlyStoppingPatience = 11 }, "Field 'hyper_parameters.early_stopping_patience': 11 is out of range; use 0 (off) to 10." },
        { Request() with { EarlyStoppingMinDelta = 2 }, "Field 'hyper_parameters.early_stopping_min_delta': 2 is out of range; use 0 to 1." },
        { Request() with { MaxGradNorm = -1 }, "Field 'hyper_parameters.max_grad_norm': -1 is out of range; use 0 (no clipping) or a positive number." },
        { Request() with { ClassWeights = "1,x" }, "Field 'hyper_parameters.class_weights': weight 2 ('x') is not a positive number; give \"balanced\" or one positive weight per class, comma-separated (e.g. \"1,2.5,1\")." },
        { Request() with { ClassWeights = "1,0" }, "Field 'hyper_parameters.class_weights': weight 2 ('0') is not a positive number" },
    };

    [Theory]
    [MemberData(nameof(BadRecipes))]
    public void Resolve_BadRecipe_NamesTheProtoField(TrainingRequest request, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => JobSubmitter.Resolve(request));
        Assert.StartsWith(expected, e.Message);
    }
}
