"""Writes the digits example models: digits-mlp.json and digits-cnn.json, their parameters in .npz beside them.

Run from the repository root after examples/data/make_digits.py:

    /usr/bin/python3 examples/make_models.py

Both graphs take B = 32 rows per evaluation: `x` (32 x 64 raw pixels 0-16, float64) and `label` (32 digits,
int64), scale the pixels by 1/16 inside the graph, and end in the scalar loss cross_entropy(logits, label)
(mean over the rows), whose first ancestor `logits` (32 x 10) is what accuracy is measured on. The inputs'
default values are the first 32 rows of examples/data/digits-train.csv, so `adjoint grad FILE --local` and
`adjoint check FILE` run without --inputs.

The parameters are initialised as PyTorch initialises nn.Linear and nn.Conv2d (weights Kaiming-uniform with
a = sqrt(5), i.e. uniform within +-1/sqrt(fan_in), biases uniform within +-1/sqrt(fan_in)), drawn in float64
by torch itself from a fixed seed, layer by layer in the order of the graph.
"""

import csv
import json
import os

import numpy as np
import torch

SEED = 15
BATCH = 32
HIDDEN = 128
CHANNELS = (32, 32)

HERE = os.path.dirname(os.path.abspath(__file__))


def first_rows(count):
    """The first `count` rows of the training file: pixels (count x 64) and labels (count)."""
    with open(os.path.join(HERE, "data", "digits-train.csv"), newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        assert header == [f"x[{k}]" for k in range(64)] + ["label"], "unexpected header in digits-train.csv"
        rows = [list(map(int, r)) for _, r in zip(range(count), reader)]
    table = np.array(rows, dtype=np.int64)
    return table[:, :64], table[:, 64]


def torch_parameters(modules):
    """Every module's weight and bias as float64 NumPy arrays, in order."""
    out = []
    for m in modules:
        out.append(m.weight.detach().numpy().copy())
        out.append(m.bias.detach().numpy().copy())
    return out


def node(id, op, ancestors=None, **fields):
    n = {"id": id, "op": op}
    if ancestors is not None:
        n["ancestors"] = ancestors
    n.update(fields)
    return n


def inputs(pixels, labels):
    x = node("x", "input", shape=[BATCH, 64],
             description="raw pixels 0-16 of 32 images, an 8x8 image per row in row-major order "
                         "(the default: the first 32 rows of data/digits-train.csv)")
    y = node("label", "input", shape=[BATCH], dtype="int64", description="the digit 0-9 of each row")
    return x, y, {"x": pixels, "label": labels}


def dump(path, description, nodes, defaults, params):
    """The graph file, one node per line and the default inputs one row per line; parameters in PATH.npz."""
    npz = os.path.splitext(os.path.basename(path))[0] + ".npz"
    np.savez(os.path.join(HERE, npz), **params)
    lines = ["{", '  "format": "adjoint-graph",', '  "version": 2,',
             f'  "description": {json.dumps(description, ensure_ascii=False)},',
             '  "output": "loss",', f'  "values": {json.dumps(npz)},', '  "nodes": [']
    body = []
    for n in nodes:
        text = json.dumps(n, ensure_ascii=False)
        if n["id"] in defaults:
            value = defaults[n["id"]]
            if value.ndim == 2:
                rows = ",\n".join("      " + json.dumps(r.tolist()) for r in value)
                text = text[:-1] + ', "value": [\n' + rows + "\n    ]}"
            else:
                text = text[:-1] + ', "value": ' + json.dumps(value.tolist()) + "}"
        body.append("    " + text)
    lines.append(",\n".join(body))
    lines += ["  ]", "}"]
    with open(path, "w", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    count = sum(v.size for v in params.values())
    print(f"{os.path.basename(path)}: {len(nodes)} nodes, {count} parameters in {npz}")


def mlp(pixels, labels):
    torch.manual_seed(SEED)
    layers = [torch.nn.Linear(64, HIDDEN), torch.nn.Linear(HIDDEN, 10)]
    w1, b1, w2, b2 = torch_parameters(layers)
    x, y, defaults = inputs(pixels, labels)
    nodes = [
        x, y,
        node("W1", "parameter", shape=list(w1.shape)), node("b1", "parameter", shape=list(b1.shape)),
        node("W2", "parameter", shape=list(w2.shape)), node("b2", "parameter", shape=list(b2.shape)),
        node("pixels", "scale", ["x"], attributes={"factor": 1 / 16}, description="pixels in [0, 1]"),
        node("hidden", "linear", ["pixels", "W1", "b1"]),
        node("active", "relu", ["hidden"]),
        node("logits", "linear", ["active", "W2", "b2"]),
        node("loss", "cross_entropy", ["logits", "label"]),
    ]
    description = (f"Handwritten digits, an MLP 64 -> {HIDDEN} relu -> 10 with cross-entropy, 32 rows per "
                   "evaluation; made by make_models.py (PyTorch's default initialisation, seed 15).")
    dump(os.path.join(HERE, "digits-mlp.json"), description, nodes, defaults,
         {"W1": w1, "b1": b1, "W2": w2, "b2": b2})


def cnn(pixels, labels):
    c1, c2 = CHANNELS
    torch.manual_seed(SEED)
    layers = [torch.nn.Conv2d(1, c1, 3, padding=1), torch.nn.Conv2d(c1, c2, 3, padding=1),
              torch.nn.Linear(c2 * 2 * 2, 10)]
    k1, b1, k2, b2, w3, b3 = torch_parameters(layers)
    x, y, defaults = inputs(pixels, labels)
    nodes = [
        x, y,
        node("K1", "parameter", shape=list(k1.shape)), node("b1", "parameter", shape=list(b1.shape)),
        node("K2", "parameter", shape=list(k2.shape)), node("b2", "parameter", shape=list(b2.shape)),
        node("W3", "parameter", shape=list(w3.shape)), node("b3", "parameter", shape=list(b3.shape)),
        node("pixels", "scale", ["x"], attributes={"factor": 1 / 16}, description="pixels in [0, 1]"),
        node("image", "reshape", ["pixels"], attributes={"shape": [-1, 1, 8, 8]}, description="N x 1 x 8 x 8"),
        node("conv1", "conv2d", ["image", "K1", "b1"], attributes={"padding": [1]}),
        node("active1", "relu", ["conv1"]),
        node("pool1", "max_pool2d", ["active1"], attributes={"kernel": [2]}, description=f"N x {c1} x 4 x 4"),
        node("conv2", "conv2d", ["pool1", "K2", "b2"], attributes={"padding": [1]}),
        node("active2", "relu", ["conv2"]),
        node("pool2", "max_pool2d", ["active2"], attributes={"kernel": [2]}, description=f"N x {c2} x 2 x 2"),
        node("features", "flatten", ["pool2"], attributes={"start_dim": 1}, description=f"N x {c2 * 4}"),
        node("logits", "linear", ["features", "W3", "b3"]),
        node("loss", "cross_entropy", ["logits", "label"]),
    ]
    description = (f"Handwritten digits, a CNN: conv 3x3 1 -> {c1} (pad 1), relu, max-pool 2, conv 3x3 "
                   f"{c1} -> {c2} (pad 1), relu, max-pool 2, linear {c2 * 4} -> 10, cross-entropy; 32 rows per "
                   "evaluation; made by make_models.py (PyTorch's default initialisation, seed 15).")
    dump(os.path.join(HERE, "digits-cnn.json"), description, nodes, defaults,
         {"K1": k1, "b1": b1, "K2": k2, "b2": b2, "W3": w3, "b3": b3})


def main():
    torch.set_default_dtype(torch.float64)
    pixels, labels = first_rows(BATCH)
    mlp(pixels, labels)
    cnn(pixels, labels)


if __name__ == "__main__":
    main()
