using BigDataAI.Training.Model;

namespace BigDataAI.UnitTests.Training;

public sealed class JobSpecTests
{
    private static readonly JobSpec Spec = new("mnist", 3, "cnn", new HyperParameters(12, 128, 1e-3, "adam", 1));

    [Fact]
    public void JobId_IsReadableAndTheSameForEqualSpecs()
    {
        var again = new JobSpec("mnist", 3, "cnn", new HyperParameters(12, 128, 0.001, "adam", 1));

        Assert.Matches("^mnist-v3-cnn-[0-9a-f]{10}$", Spec.JobId);
        Assert.Equal(Spec.JobId, again.JobId);
        Assert.Equal(Spec.JobId, Spec.JobId);
    }

    [Fact]
    public void JobId_IsAFixedFunctionOfTheSpec_SoStoredJobsAreFoundAfterARestart()
    {
        // SHA-256 of "mnist|3|cnn|12|128|0.001|adam|1", recorded once: an id must not change between processes or releases.
        Assert.Equal(ExpectedId, Spec.JobId);
    }

    private const string ExpectedId = "mnist-v3-cnn-aaf42174cc";

    public static TheoryData<JobSpec> OneFieldChanged() =>
    [
        Spec with { Dataset = "mnist2" },
        Spec with { Version = 4 },
        Spec with { Model = "mlp" },
        Spec with { HyperParameters = Spec.HyperParameters with { Epochs = 13 } },
        Spec with { HyperParameters = Spec.HyperParameters with { BatchSize = 64 } },
        Spec with { HyperParameters = Spec.HyperParameters with { LearningRate = 1e-3 + 1e-18 * 1000 } },
        Spec with { HyperParameters = Spec.HyperParameters with { LearningRate = 0.01 } },
        Spec with { HyperParameters = Spec.HyperParameters with { Optimizer = "sgd" } },
        Spec with { HyperParameters = Spec.HyperParameters with { Seed = 2 } },
        Spec with { HyperParameters = Spec.HyperParameters with { WeightDecay = 1e-4 } },
        Spec with { HyperParameters = Spec.HyperParameters with { Dropout = 0.2 } },
        Spec with { HyperParameters = Spec.HyperParameters with { LrSchedule = "cosine" } },
        Spec with { HyperParameters = Spec.HyperParameters with { WarmupEpochs = 1 } },
        Spec with { HyperParameters = Spec.HyperParameters with { LrSchedule = "step", StepEpochs = 3 } },
        Spec with { HyperParameters = Spec.HyperParameters with { LrSchedule = "step", StepEpochs = 3, StepGamma = 0.5 } },
        Spec with { HyperParameters = Spec.HyperParameters with { EarlyStoppingPatience = 2 } },
        Spec with { HyperParameters = Spec.HyperParameters with { EarlyStoppingPatience = 2, EarlyStoppingMinDelta = 0.01 } },
        Spec with { HyperParameters = Spec.HyperParameters with { ClassWeights = "balanced" } },
        Spec with { HyperParameters = Spec.HyperParameters with { MaxGradNorm = 1 } },
    ];

    [Fact]
    public void JobId_WithoutARecipe_IsTheIdItHadBeforeRecipes()
    {
        // Every recipe field at its default adds nothing to the id, so stored jobs are found after the upgrade.
        var recipeAtDefaults = Spec with { HyperParameters = Spec.HyperParameters with { LrSchedule = "constant", StepGamma = 0.1, ClassWeights = "" } };
        Assert.Equal("", recipeAtDefaults.HyperParameters.RecipeKey());
        Assert.Equal(ExpectedId, recipeAtDefaults.JobId);
        Assert.Equal("wd=0.0001,schedule=cosine,warmup=1,weights=1,2",
            (Spec.HyperParameters with { WeightDecay = 1e-4, LrSchedule = "cosine", WarmupEpochs = 1, ClassWeights = "1,2" }).RecipeKey());
    }

    [Theory]
    [MemberData(nameof(OneFieldChanged))]
    public void JobId_DiffersWhenAnyFieldDiffers(JobSpec changed)
    {
        Assert.NotEqual(Spec, changed);
        Assert.NotEqual(Spec.JobId, changed.JobId);
    }

    [Fact]
    public void JobId_FieldsDoNotRunIntoEachOther()
    {
        // "ab" + "c" and "a" + "bc" must not hash alike: the fields are separated.
        var a = new JobSpec("ab", 11, "cnn", new HyperParameters(1, 1, 0.5, "adam", 1));
        var b = new JobSpec("ab", 1, "cnn", new HyperParameters(11, 1, 0.5, "adam", 1));

        Assert.NotEqual(a.JobId[^10..], b.JobId[^10..]);
    }
}
