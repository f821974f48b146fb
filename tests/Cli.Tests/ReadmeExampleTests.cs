using Xunit;

namespace Adjoint.Cli.Tests;

/// <summary>The README's C# example, verbatim, so that it keeps compiling and keeps being right.</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void TheReadmeExampleGivesTheClosedFormGradient()
    {
        var b = new GraphBuilder();
        var x = b.Input("X", Tensor.OfRows(new[] { new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 } }));
        var w = b.Parameter("W", Tensor.OfRows(new[] { new[] { 0.5 }, new[] { -0.5 } }));
        var loss = b.SquaredNorm(b.Sigmoid(b.MatMul(x, w)), "loss");
        var plan = Plan.Compile(b.Build(loss));                    // validate and compile once

        var e = Engine.gradient(Adjoints.All, plan, null);          // forward + backward
        double value = e.Output.ScalarValue;                        // z_n
        Tensor lambdaW = e.Adjoint("W");                            // ∂z_n/∂W

        // Closed form: h = σ(XW) = σ(-0.5) for both rows; z = 2σ(-0.5)²; ∂z/∂W = Xᵀ(2h ⊙ h(1−h)).
        var h = 1 / (1 + Math.Exp(0.5));
        Assert.Equal(2 * h * h, value, 1e-15);
        var g = 2 * h * h * (1 - h);
        Assert.Equal((1 + 3) * g, lambdaW[0, 0], 1e-15);
        Assert.Equal((2 + 4) * g, lambdaW[1, 0], 1e-15);
    }
}
