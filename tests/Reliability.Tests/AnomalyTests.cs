using Xunit;

namespace Adjoint.Reliability.Tests;

/// <summary>Anomaly mode names the first node whose value or adjoint stopped being finite.</summary>
[Trait("Category", "Reliability")]
public sealed class AnomalyTests
{
    private static Plan LogOfDifference(out NodeRef x)
    {
        // z = sum(log(x − 1)) · 2: log of a non-positive number is the first non-finite value.
        var b = new GraphBuilder();
        x = b.Input("x", 3, 1);
        var shifted = b.Sub(x, b.Constant("one", Tensor.OfRows([[1.0], [1.0], [1.0]])), "shifted");
        var logged = b.Log(shifted, "logged");
        return Plan.Compile(b.Build(b.Scale(b.Sum(logged, "total"), 2.0, "z")));
    }

    [Fact]
    public void TheFirstOpToProduceNaNIsNamed()
    {
        var plan = LogOfDifference(out _);
        var e = Engine.bind(plan, new Dictionary<string, Tensor> { ["x"] = Tensor.OfRows([[2.0], [0.5], [3.0]]) });
        var error = Assert.Throws<EvaluationException>(() => Anomaly.forward(e));
        Assert.Equal("logged", error.Node);
        Assert.Equal("log", error.Op);
        Assert.Equal("node 'logged': op 'log' failed: produced NaN at (1, 0) in the forward pass from finite arguments", error.Message);
    }

    [Fact]
    public void ANonFiniteInputIsNamedBeforeAnythingItFeeds()
    {
        var plan = LogOfDifference(out _);
        var e = Engine.bind(plan, new Dictionary<string, Tensor> { ["x"] = Tensor.OfRows([[2.0], [double.PositiveInfinity], [3.0]]) });
        var error = Assert.Throws<EvaluationException>(() => Anomaly.forward(e));
        Assert.Equal("node 'x': op 'input' failed: the input's value holds Infinity at (1, 0)", error.Message);
    }

    [Fact]
    public void AnInfiniteAdjointNamesTheNodeAndTheSuccessorsVjp()
    {
        // z = Σ 1 ⊘ x is finite for x = 1e-200 but λ_x = −1/x² overflows: only the backward pass breaks.
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 1);
        var q = b.Div(b.Constant("ones", Tensor.OfRows([[1.0], [1.0]])), x, "q");
        var plan = Plan.Compile(b.Build(b.Sum(q, "z")));
        var e = Engine.bind(plan, new Dictionary<string, Tensor> { ["x"] = Tensor.OfRows([[1.0], [1e-200]]) });
        Anomaly.forward(e);
        var error = Assert.Throws<EvaluationException>(() => Anomaly.backward(Adjoints.All, e));
        Assert.Equal("x", error.Node);
        Assert.Contains("adjoint became -Infinity at (1, 0) in the backward pass, from the VJP of successor 'q' (op 'div', argument 1)", error.Message);
    }

    [Fact]
    public void TheValueChecksRefuseAnEvaluationThatDropsValues()
    {
        // Made for the inputs' adjoints only, it does not keep 'logged' (sum's VJP does not read it).
        var plan = LogOfDifference(out _);
        var e = new Evaluation(plan, Adjoints.InputsAndParameters);
        e.Set("x", Tensor.OfRows([[2.0], [0.5], [3.0]]));
        var error = Assert.Throws<ArgumentException>(() => Anomaly.forward(e));
        Assert.Contains("node 'logged'", error.Message);
        Assert.False(e.HasAdjoints);
    }

    [Fact]
    public void TheAdjointChecksWorkOnAnEvaluationThatDropsValues()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 1);
        var q = b.Div(b.Constant("ones", Tensor.OfRows([[1.0], [1.0]])), x, "q");
        var plan = Plan.Compile(b.Build(b.Sum(b.Neg(q, "negated"), "z")));
        var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.OfRows([[1.0], [1e-200]]) };
        var e = Engine.gradient(Adjoints.InputsAndParameters, plan, inputs);
        Assert.False(e.HasValue("negated"));
        var error = Assert.Throws<EvaluationException>(() => Anomaly.checkAdjoints(e));
        Assert.Equal("x", error.Node);
        Assert.Contains("adjoint became Infinity at (1, 0) in the backward pass, from the VJP of successor 'q' (op 'div', argument 1)", error.Message);
    }

    [Fact]
    public void FiniteEvaluationsPassUnchanged()
    {
        var plan = LogOfDifference(out _);
        var e = Engine.bind(plan, new Dictionary<string, Tensor> { ["x"] = Tensor.OfRows([[2.0], [1.5], [3.0]]) });
        Anomaly.forward(e);
        Anomaly.backward(Adjoints.All, e);
        var reference = Engine.gradient(Adjoints.All, plan, new Dictionary<string, Tensor> { ["x"] = Tensor.OfRows([[2.0], [1.5], [3.0]]) });
        Assert.True(Tensor.BitwiseEqual(reference.Adjoint("x"), e.Adjoint("x")));
    }
}
