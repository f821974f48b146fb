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

    /// <summary>The README's N-d snippet: rank-3 data, broadcasting through the C# operators, ops by name.</summary>
    public static Plan Broadcasting()
    {
        // <operators>
        var b = new GraphBuilder();
        var x = b.Input("X", Shape.Of(2, 3, 4));                              // batch × step × feature
        var w = b.Parameter("w", new Tensor(Shape.Of(4), [0.5, -1.0, 2.0, 0.25])); // broadcast over batch and step
        var c = b.Parameter("c", Tensor.Scalar(0.1));                          // rank 0
        var y = b.Apply("softplus", x * w + c);                               // NumPy's broadcasting; any op by name
        var loss = b.Mean(b.Apply("pow", y, b.Constant(2.0)) - 0.5 * y, "loss");
        var plan = Plan.Compile(b.Build(loss));
        // </operators>
        return plan;
    }
}
