namespace Adjoint.Reliability.Tests;

/// <summary>Seed files beyond the examples, so that mutations reach every op family and attributes.</summary>
internal static class Generated
{
    public const string SoftmaxNet = """
        {
          "format": "adjoint-graph", "version": 1, "output": "loss",
          "nodes": [
            { "id": "X", "op": "input", "shape": [3, 2], "value": [[1, 2], [3, 4], [5, 6]] },
            { "id": "Y", "op": "constant", "value": [[1, 0], [0, 1], [0.5, 0.5]] },
            { "id": "W", "op": "parameter", "value": [[0.1, -0.2], [0.3, 0.4]] },
            { "id": "b", "op": "parameter", "shape": [1, 2], "value": [0.01, -0.02] },
            { "id": "A", "op": "constant", "value": [[2, 1], [1, 3]] },
            { "id": "Z", "op": "matmul", "ancestors": ["X", "W"] },
            { "id": "Zb", "op": "addrow", "ancestors": ["Z", "b"] },
            { "id": "S", "op": "solve", "ancestors": ["A", "W"] },
            { "id": "T", "op": "transpose", "ancestors": ["S"] },
            { "id": "u", "op": "sum", "ancestors": ["T"] },
            { "id": "h", "op": "tanh", "ancestors": ["Zb"] },
            { "id": "r", "op": "relu", "ancestors": ["h"] },
            { "id": "e", "op": "exp", "ancestors": ["u"] },
            { "id": "l", "op": "log", "ancestors": ["e"] },
            { "id": "s", "op": "scale", "ancestors": ["l"], "attributes": { "factor": 0.5 } },
            { "id": "d", "op": "div", "ancestors": ["s", "e"] },
            { "id": "ce", "op": "softmax_cross_entropy", "ancestors": ["Zb", "Y"] },
            { "id": "m", "op": "mean", "ancestors": ["r"] },
            { "id": "q", "op": "mul", "ancestors": ["m", "d"] },
            { "id": "loss0", "op": "add", "ancestors": ["ce", "q"] },
            { "id": "loss", "op": "sub", "ancestors": ["loss0", "m"] }
          ]
        }
        """;
}
