// The core on its own: a graph from the builder, compiled once, its gradient on the local engine (README "Using the core").
namespace Adjoint.Examples;

/// <summary>The README's core snippet: z_n and λ_W of ‖σ(XW)‖².</summary>
public static class CoreSample
{
    /// <summary>z_n and ∂z_n/∂W.</summary>
    public static (double Value, Tensor LambdaW) Gradient()
    {
        // <core>
        var b = new GraphBuilder();
        var x = b.Input("X", Tensor.OfRows(new[] { new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 } }));
        var w = b.Parameter("W", Tensor.OfRows(new[] { new[] { 0.5 }, new[] { -0.5 } }));
        var loss = b.SquaredNorm(b.Sigmoid(b.MatMul(x, w)), "loss");
        var plan = Plan.Compile(b.Build(loss));                    // validate and compile once

        var e = Engine.gradient(Adjoints.All, plan, null);          // forward + backward
        double value = e.Output.ScalarValue;                        // z_n
        Tensor lambdaW = e.Adjoint("W");                            // ∂z_n/∂W
        // </core>
        return (value, lambdaW);
    }
}
