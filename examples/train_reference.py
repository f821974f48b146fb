"""PyTorch reference for the digits examples: trains digits-mlp.json and digits-cnn.json in float64 and writes
examples/data/reference.json.

Run from the repository root after make_digits.py and make_models.py:

    /usr/bin/python3 examples/train_reference.py            # both models, writes data/reference.json
    /usr/bin/python3 examples/train_reference.py --no-write mlp --epochs 8 --lr 0.003

Each graph file is read and run by a small interpreter that maps its ops to torch.nn.functional (scale,
reshape, linear, relu, conv2d, max_pool2d, flatten, cross_entropy), starting from the file's own initial
parameters (its .npz), so the reference trains exactly the graph in the file and not a copy of it.

Training: Adam (torch.optim.Adam, betas 0.9/0.999, eps 1e-8), mini-batches of 32 rows, the training rows
shuffled each epoch by numpy.random.default_rng(SHUFFLE_SEED + epoch).permutation, the incomplete last
mini-batch of each epoch (1,437 = 44 x 32 + 29) dropped. Each epoch's train loss is the mean of its 44
mini-batch losses (before each step); test accuracy is over all 360 test rows after the epoch. The same
training is repeated with nine other shuffle seeds, and their final test accuracies recorded too.

Also records, as an independent reference for the engine's tests, the loss and every parameter's gradient
at the file's initial parameters on the graph's default inputs (the first 32 training rows): the loss,
and per parameter the gradient's 2-norm and its inner product with the parameter, <g, theta>.
"""

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
BATCH = 32
SHUFFLE_SEED = 15
# Other shuffles, to show the margin does not depend on one order of the rows (adjoint train shuffles its own way).
OTHER_SEEDS = list(range(1000, 10000, 1000))

# The settings reference.json records: the fewest epochs after which every one of ten shuffle seeds
# (this one and 1000, 2000, ..., 9000) stays above the target with a margin (see examples/data/README.md).
SETTINGS = {
    "mlp": {"file": "digits-mlp.json", "epochs": 15, "lr": 0.01, "target": 0.95},
    "cnn": {"file": "digits-cnn.json", "epochs": 15, "lr": 0.01, "target": 0.97},
}


def _ints(a):
    return list(a) if isinstance(a, list) else [a]


def _pair(a):
    a = _ints(a)
    return tuple(a * 2 if len(a) == 1 else a)


def _conv2d(args, at):
    return F.conv2d(*args, stride=_pair(at.get("stride", 1)), padding=_pair(at.get("padding", 0)),
                    dilation=_pair(at.get("dilation", 1)), groups=at.get("groups", 1))


def _max_pool2d(args, at):
    kernel = _pair(at["kernel"])
    return F.max_pool2d(args[0], kernel, stride=_pair(at.get("stride", list(kernel))),
                        padding=_pair(at.get("padding", 0)), dilation=_pair(at.get("dilation", 1)))


OPS = {
    "scale": lambda args, at: args[0] * at["factor"],
    "reshape": lambda args, at: args[0].reshape(at["shape"]),
    "linear": lambda args, at: F.linear(*args),
    "relu": lambda args, at: F.relu(args[0]),
    "conv2d": _conv2d,
    "max_pool2d": _max_pool2d,
    "flatten": lambda args, at: torch.flatten(args[0], at.get("start_dim", 0), at.get("end_dim", -1)),
    "cross_entropy": lambda args, at: F.cross_entropy(args[0], args[1], reduction=at.get("reduction", "mean")),
}


class GraphModel:
    """A graph file run by torch: parameters as leaf tensors, the nodes in file order (they are topological)."""

    def __init__(self, path):
        with open(path) as f:
            self.doc = json.load(f)
        side = np.load(os.path.join(os.path.dirname(path), self.doc["values"]))
        self.nodes = self.doc["nodes"]
        self.params = {}
        self.defaults = {}
        for n in self.nodes:
            if n["op"] == "parameter":
                self.params[n["id"]] = torch.tensor(side[n["id"]], dtype=torch.float64, requires_grad=True)
            elif n["op"] == "input":
                dtype = torch.int64 if n.get("dtype") == "int64" else torch.float64
                self.defaults[n["id"]] = torch.tensor(n["value"], dtype=dtype)
        loss = next(n for n in self.nodes if n["id"] == self.doc["output"])
        self.logits_id = loss["ancestors"][0]

    def run(self, inputs):
        """Every node's value for these inputs (x float64, label int64)."""
        values = dict(inputs)
        values.update(self.params)
        for n in self.nodes:
            if n["op"] in ("input", "parameter", "constant"):
                continue
            values[n["id"]] = OPS[n["op"]]([values[a] for a in n["ancestors"]], n.get("attributes", {}))
        return values

    def loss(self, x, label):
        values = self.run({"x": x, "label": label})
        return values[self.doc["output"]], values[self.logits_id]


def pretty(value, indent=""):
    """JSON with every value that fits in 100 characters on one line (epochs, shapes), nested ones indented."""
    flat = json.dumps(value)
    if len(flat) + len(indent) <= 100 or not isinstance(value, (dict, list)) or not value:
        return flat
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {pretty(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + pretty(v, inner) for v in value) + "\n" + indent + "]"


def read_csv(name):
    table = np.loadtxt(os.path.join(DATA, name), delimiter=",", skiprows=1, dtype=np.int64)
    return torch.tensor(table[:, :64], dtype=torch.float64), torch.tensor(table[:, 64], dtype=torch.int64)


def initial_gradient(model):
    """Loss and per-parameter gradient norms and <g, theta> at the file's parameters and default inputs."""
    loss, _ = model.loss(model.defaults["x"], model.defaults["label"])
    grads = torch.autograd.grad(loss, list(model.params.values()))
    return {
        "loss": loss.item(),
        "parameters": {
            k: {"shape": list(p.shape), "gradient_norm": torch.linalg.vector_norm(g).item(),
                "gradient_dot_parameter": torch.sum(g * p.detach()).item()}
            for (k, p), g in zip(model.params.items(), grads)
        },
    }


def accuracy(model, x, label):
    with torch.no_grad():
        _, logits = model.loss(x, label)
        return (logits.argmax(dim=1) == label).double().mean().item()


def train(path, epochs, lr, train_set, test_set, seed=SHUFFLE_SEED, quiet=False):
    model = GraphModel(path)
    (x, y), (tx, ty) = train_set, test_set
    optimizer = torch.optim.Adam(model.params.values(), lr=lr)
    batches = len(x) // BATCH
    history = []
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = torch.from_numpy(np.random.default_rng(seed + epoch).permutation(len(x)))
        total = 0.0
        for b in range(batches):
            rows = order[b * BATCH:(b + 1) * BATCH]
            optimizer.zero_grad()
            loss, _ = model.loss(x[rows], y[rows])
            loss.backward()
            optimizer.step()
            total += loss.item()
        history.append({"epoch": epoch, "train_loss": total / batches,
                        "test_accuracy": accuracy(model, tx, ty)})
        if not quiet:
            h = history[-1]
            print(f"  epoch {epoch:2d}  train loss {h['train_loss']:.4f}  test accuracy {h['test_accuracy']:.4f}")
    seconds = time.perf_counter() - started
    return history, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help="mlp, cnn or both (the default)")
    parser.add_argument("--epochs", type=int, help="override the recorded settings' epochs")
    parser.add_argument("--lr", type=float, help="override the recorded settings' learning rate")
    parser.add_argument("--no-write", action="store_true", help="do not write data/reference.json")
    a = parser.parse_args()
    a.models = a.models or list(SETTINGS)
    unknown = [m for m in a.models if m not in SETTINGS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r} (expected mlp or cnn)")
    torch.set_num_threads(1)
    train_set, test_set = read_csv("digits-train.csv"), read_csv("digits-test.csv")
    out = {
        "description": "PyTorch float64 reference for the digits examples, written by examples/train_reference.py",
        "torch": torch.__version__,
        "data": {"train": "digits-train.csv", "test": "digits-test.csv",
                 "train_rows": len(train_set[0]), "test_rows": len(test_set[0])},
        "training": {"optimizer": "adam", "betas": [0.9, 0.999], "eps": 1e-8, "batch": BATCH,
                     "shuffle": f"numpy.random.default_rng({SHUFFLE_SEED} + epoch).permutation(1437) per epoch",
                     "drop_last": True, "steps_per_epoch": len(train_set[0]) // BATCH},
        "models": {},
    }
    for name in a.models:
        s = dict(SETTINGS[name])
        s["epochs"] = a.epochs or s["epochs"]
        s["lr"] = a.lr or s["lr"]
        path = os.path.join(HERE, s["file"])
        print(f"{s['file']}: Adam lr {s['lr']}, {s['epochs']} epochs")
        reference = initial_gradient(GraphModel(path))
        history, seconds = train(path, s["epochs"], s["lr"], train_set, test_set)
        final = history[-1]["test_accuracy"]
        print(f"  {seconds:.1f} s; final test accuracy {final:.4f} (target {s['target']})")
        others = [train(path, s["epochs"], s["lr"], train_set, test_set, seed, quiet=True)[0][-1]["test_accuracy"]
                  for seed in OTHER_SEEDS]
        print(f"  shuffle seeds {OTHER_SEEDS[0]}..{OTHER_SEEDS[-1]}: final test accuracy "
              f"{min(others):.4f} to {max(others):.4f}")
        out["models"][name] = {
            "file": s["file"], "epochs": s["epochs"], "lr": s["lr"], "target_accuracy": s["target"],
            "final_test_accuracy": final, "torch_seconds": round(seconds, 2), "torch_threads": 1,
            "history": history,
            "other_shuffles": {"seeds": OTHER_SEEDS, "final_test_accuracy": others,
                               "min": min(others), "max": max(others)},
            "initial": reference,
        }
    if not a.no_write:
        with open(os.path.join(DATA, "reference.json"), "w", newline="\n") as f:
            f.write(pretty(out) + "\n")
        print("wrote examples/data/reference.json")


if __name__ == "__main__":
    main()
