"""Converts scikit-learn's copy of the handwritten digits into digits-train.csv and digits-test.csv.

Run once from the repository root (Debian: apt-get install python3-sklearn):

    /usr/bin/python3 examples/data/make_digits.py

The source is sklearn/datasets/data/digits.csv.gz as Debian's python3-sklearn installs it: 1,797 rows of
64 pixel counts (0-16, an 8x8 image in row-major order) and the digit (0-9) last. The split is a plain
(unstratified) permutation from a fixed seed: its first 1,437 rows are the training set, the other 360
the test set. Both files keep the raw integer pixels; the models scale them.
"""

import gzip
import hashlib
import os
import sys

import numpy as np
import sklearn

SEED = 15
TRAIN_ROWS = 1437

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "digits.csv.gz")


def read_source(path):
    """The 1,797 x 65 integer table, pixels first and the label last, checked against what the data set says."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    if table.shape != (1797, 65):
        sys.exit(f"{path}: expected 1797 rows of 65 values, got {table.shape}")
    if not np.array_equal(table, np.round(table)):
        sys.exit(f"{path}: expected integers only")
    table = table.astype(np.int64)
    if table[:, :64].min() < 0 or table[:, :64].max() > 16:
        sys.exit(f"{path}: pixels outside 0..16")
    if set(np.unique(table[:, 64])) != set(range(10)):
        sys.exit(f"{path}: labels other than 0..9")
    return table


def write_csv(path, rows):
    header = ",".join([f"x[{k}]" for k in range(64)] + ["label"])
    with open(path, "w", newline="\n") as f:
        f.write(header + "\n")
        for row in rows:
            f.write(",".join(str(int(v)) for v in row) + "\n")


def main():
    table = read_source(SOURCE)
    order = np.random.default_rng(SEED).permutation(len(table))
    train, test = table[order[:TRAIN_ROWS]], table[order[TRAIN_ROWS:]]
    for name, rows in (("digits-train.csv", train), ("digits-test.csv", test)):
        path = os.path.join(HERE, name)
        write_csv(path, rows)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        counts = np.bincount(rows[:, 64], minlength=10)
        print(f"{name}: {len(rows)} rows, per class {counts.tolist()}, sha256 {digest}")


if __name__ == "__main__":
    main()
