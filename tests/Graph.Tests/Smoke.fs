module Adjoint.Tests.Smoke

open Xunit
open Adjoint

[<Fact>]
let ``x squared has adjoint 2x`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor.Scalar 3.0)
    let y = b.Square(x, "y")
    let plan = Plan.Compile(b.Build y)
    let e = Engine.gradient Adjoints.All plan null
    Assert.Equal(9.0, e.Output.ScalarValue)
    Assert.Equal(6.0, e.Adjoint("x").ScalarValue)
