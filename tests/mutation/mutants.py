#!/usr/bin/env python3
"""The mutants of tests/mutation/run.sh, generated from the sources of a copy of the repository.

    mutants.py list  ROOT       one mutant a line: id <TAB> kind <TAB> file <TAB> description
    mutants.py apply ROOT ID    write mutant ID into its file under ROOT (which must be pristine)

Rule mutants are derived from src/Graph/Ops/Elementwise.fs itself: every derivative member (`D` of an
IUnaryRule, `Da`/`Db` of an IBinaryRule) of every rule, so that a new op is mutated without editing this
file. Each member gets
  negate    its result negated                       -(e)
  scale     its result scaled by 1.001               1.001 * (e)
  mask      for `if c then p else q`: the condition dropped, either way (always q, always p)
  swap      the inputs it reads swapped (x and y of a unary rule, a and b of a binary one)
  formula   a wrong-but-plausible formula, from FORMULAS below, where one is natural
and every op that declares what its derivative reads (Reads.Argument/Output/Both) gets
  reads     Reads.Nothing declared instead, so that the engine's shared buffers may reuse what f′ reads
Fixed mutants (OVERRIDES below) break the hand-written paths: Vec.sigmoidVjp, the broadcasting reduction
and the other loops of Pointwise.fs, and the one-element kernels.

A mutant whose text is no longer in the source (a FORMULAS or OVERRIDES entry gone stale, a derivative
written over several lines) is listed with kind STALE, and run.sh fails on it: update this file.
"""

import re
import sys
from pathlib import Path

ELEMENTWISE = "src/Graph/Ops/Elementwise.fs"
POINTWISE = "src/Graph/Ops/Pointwise.fs"
VEC = "src/Graph/Kernels/Vec.fs"

# (op, member, text in the member's expression, replacement, description).
FORMULAS = [
    ("div", "Db", "-(z / b)", "-z", "−a/b, the square of b forgotten"),
    ("pow", "Da", "b * Math.Pow(a, b - 1.0)", "b * Math.Pow(a, b)", "b·aᵇ, the exponent not lowered"),
    ("pow", "Db", "z * Math.Log a", "Math.Log a", "ln a, the factor z dropped"),
    ("scale", "D", "factor", "1.0", "1, the factor forgotten"),
    ("square", "D", "2.0 * x", "x", "x, the 2 forgotten"),
    ("sigmoid", "D", "(1.0 - y) * y", "(1.0 - y)", "(1 − y), the factor y dropped"),
    ("tanh", "D", "1.0 - y * y", "1.0 - y", "1 − y, not squared"),
    ("relu", "D", "x > 0.0", "x >= 0.0", "1 at x = 0 (x ≥ 0)"),
    ("log", "D", "1.0 / x", "x", "x for 1/x"),
    ("sin", "D", "Math.Cos x", "Math.Sin x", "sin x for cos x"),
    ("cos", "D", "-(Math.Sin x)", "Math.Sin x", "sin x for −sin x"),
    ("softplus", "D", "Math.Exp(-x)", "Math.Exp(x)", "σ(−x) for σ(x)"),
]

SIGMOID_VJP_BODY = (
    "Numerics.Vector.Multiply(Numerics.Vector.Multiply(Numerics.Vector.Subtract(one, yv), yv), Numerics.Vector<double>(l, k))",
    "Numerics.Vector.Multiply(Numerics.Vector.Subtract(one, yv), Numerics.Vector<double>(l, k))",
)
SIGMOID_VJP_TAIL = ("dest[k] <- (1.0 - y[k]) * y[k] * l[k]", "dest[k] <- (1.0 - y[k]) * l[k]")

# (kind, file, description, [(text, replacement), ...]); each text must occur exactly once.
OVERRIDES = [
    ("override", VEC, "Vec.sigmoidVjp: (1−y)·λ for (1−y)·y·λ, vector body and tail", [SIGMOID_VJP_BODY, SIGMOID_VJP_TAIL]),
    ("override", VEC, "Vec.sigmoidVjp: (1−y)·λ for (1−y)·y·λ, vector body only", [SIGMOID_VJP_BODY]),
    ("override", VEC, "Vec.sigmoidVjp: (1−y)·λ for (1−y)·y·λ, scalar tail only", [SIGMOID_VJP_TAIL]),
    ("override", POINTWISE, "Binary.Vjp broadcast reduction, slot 0: overwrites instead of accumulating",
     [("d[ia] <- d[ia] + l[k] * rule.Da", "d[ia] <- l[k] * rule.Da")]),
    ("override", POINTWISE, "Binary.Vjp broadcast reduction, slot 1: overwrites instead of accumulating",
     [("d[ib] <- d[ib] + l[k] * rule.Db", "d[ib] <- l[k] * rule.Db")]),
    ("override", POINTWISE, "Binary.Vjp broadcast reduction: destination not cleared first",
     [("Array.Fill(d, -0.0)", "()")]),
    ("override", POINTWISE, "Binary.Vjp same shapes, slot 0: ∂f/∂b for ∂f/∂a",
     [("d[k] <- l[k] * rule.Da(a[k], b[k], z[k])", "d[k] <- l[k] * rule.Db(a[k], b[k], z[k])")]),
    ("override", POINTWISE, "Binary.Vjp other argument broadcast, slot 1: λ dropped",
     [("(fun k ia ib -> d[k] <- l[k] * rule.Db(a[ia], b[ib], z[k]))", "(fun k ia ib -> d[k] <- rule.Db(a[ia], b[ib], z[k]))")]),
    ("override", POINTWISE, "Unary.Vjp derived loop: λ dropped",
     [("d[k] <- l[k] * rule.D(x[k], y[k])", "d[k] <- rule.D(x[k], y[k])")]),
    ("negate", POINTWISE, "UnaryKernel: partials[at] <- -rule.D(a, z)",
     [("partials[at] <- rule.D(a, z)", "partials[at] <- -rule.D(a, z)")]),
    ("negate", POINTWISE, "BinaryKernel: partials[at] <- -rule.Da(a, b, z)",
     [("partials[at] <- rule.Da(a, b, z)", "partials[at] <- -rule.Da(a, b, z)")]),
    ("negate", POINTWISE, "BinaryKernel: partials[at + 1] <- -rule.Db(a, b, z)",
     [("partials[at + 1] <- rule.Db(a, b, z)", "partials[at + 1] <- -rule.Db(a, b, z)")]),
]

TYPE_RE = re.compile(r"^type\s+(\w+)")
RULE_RE = re.compile(r"^\s*interface\s+(IUnaryRule|IBinaryRule)\s+with\s*$")
MEMBER_RE = re.compile(r"^(?P<head>\s*member\s+_\.(?P<m>D|Da|Db)\((?P<params>[^)]*)\)\s*=)(?P<gap>\s*)(?P<expr>.*?)\s*$")
OP_RE = re.compile(r'\b(?:Unary|Binary)\(\s*"(\w+)"\s*,\s*(\w+)')
READS_RE = re.compile(r'\b(?:Unary|Binary)\(\s*"(\w+)"\s*,[^,]*,\s*Reads\.(\w+)')
IF_RE = re.compile(r"^if\s+(?P<c>.+?)\s+then\s+(?P<p>.+?)\s+else\s+(?P<q>.+)$")


class Mutant:
    def __init__(self, kind, file, description, edits):
        self.kind, self.file, self.description, self.edits = kind, file, description, edits


def one_line(s):
    return " ".join(s.split())


def rule_mutants(text):
    """Mutants of every derivative member of every rule, with edits as (line number, old, new)."""
    lines = text.split("\n")
    op_of = {rule: op for op, rule in OP_RE.findall(text)}
    out = []
    current_type, in_rule = None, False
    for i, line in enumerate(lines):
        m = TYPE_RE.match(line)
        if m:
            current_type, in_rule = m.group(1), False
            continue
        if RULE_RE.match(line):
            in_rule = True
            continue
        m = MEMBER_RE.match(line)
        if not (in_rule and m):
            continue
        op = op_of.get(current_type, current_type)
        member, expr = m.group("m"), m.group("expr")
        name = f"{op} {member}"
        following = lines[i + 1] if i + 1 < len(lines) else ""
        indent = len(line) - len(line.lstrip())
        if not expr or (following.strip() and len(following) - len(following.lstrip()) > indent):
            out.append(Mutant("STALE", ELEMENTWISE, f"{name}: written over several lines; mutants.py mutates one-line members", []))
            continue
        head, gap = m.group("head"), m.group("gap") or " "

        def member_line(new_expr, params=None):
            h = head if params is None else head.replace(f"({m.group('params')})", f"({params})", 1)
            return h + gap + new_expr

        def add(kind, what, new_line):
            before, after = line.strip()[len("member _."):], new_line.strip()[len("member _."):]
            out.append(Mutant(kind, ELEMENTWISE, f"{name}: {what}  [{one_line(before)}  →  {one_line(after)}]",
                              [(i, line, new_line)]))

        add("negate", "result negated", member_line(f"-({expr})"))
        add("scale", "result scaled by 1.001", member_line(f"1.001 * ({expr})"))
        c = IF_RE.match(expr)
        if c:
            add("mask", f"condition `{c.group('c')}` dropped (always the else branch)", member_line(c.group("q")))
            add("mask", f"condition `{c.group('c')}` dropped (always the then branch)", member_line(c.group("p")))
        params = [p.strip() for p in m.group("params").split(",")]
        if len(params) >= 2 and not (params[0] == "_" and params[1] == "_") and params[0] != params[1]:
            swapped = [params[1], params[0]] + params[2:]
            roles = ("x", "y") if len(params) == 2 else ("a", "b")
            add("swap", f"inputs {roles[0]} and {roles[1]} swapped", member_line(expr, ", ".join(swapped)))
        for f_op, f_member, old, new, what in FORMULAS:
            if (f_op, f_member) == (op, member):
                if old in expr:
                    add("formula", what, member_line(expr.replace(old, new, 1)))
                else:
                    out.append(Mutant("STALE", ELEMENTWISE, f"{name}: formula '{what}': `{old}` not in `{expr}`", []))
    for i, line in enumerate(lines):
        m = READS_RE.search(line)
        if m and m.group(2) != "Nothing":
            new_line = line[: m.start(2)] + "Nothing" + line[m.end(2):]
            out.append(Mutant("reads", ELEMENTWISE, f"{m.group(1)}: declares Reads.Nothing for Reads.{m.group(2)} (the engine may drop what f′ reads)",
                              [(i, line, new_line)]))
    seen = {(f_op, f_member) for f_op, f_member, *_ in FORMULAS}
    found = {tuple(x.description.split(":")[0].split(" ")) for x in out}
    for key in sorted(seen - found):
        out.append(Mutant("STALE", ELEMENTWISE, f"{key[0]} {key[1]}: in FORMULAS but no such rule member", []))
    return out


def all_mutants(root):
    root = Path(root)
    text = (root / ELEMENTWISE).read_text(encoding="utf-8")
    out = rule_mutants(text)
    if not any(x.kind != "STALE" for x in out):
        out.append(Mutant("STALE", ELEMENTWISE, "no rule members found", []))
    for kind, file, description, edits in OVERRIDES:
        source = (root / file).read_text(encoding="utf-8")
        counts = [source.count(old) for old, _ in edits]
        if any(c != 1 for c in counts):
            out.append(Mutant("STALE", file, f"{description}: text found {counts} times, not once each", []))
        else:
            out.append(Mutant(kind, file, description, edits))
    return out


def apply(root, index):
    x = all_mutants(root)[index - 1]
    if x.kind == "STALE":
        sys.exit(f"mutant {index} is stale: {x.description}")
    path = Path(root) / x.file
    text = path.read_text(encoding="utf-8")
    if x.file == ELEMENTWISE:
        lines = text.split("\n")
        for at, old, new in x.edits:
            assert lines[at] == old, f"line {at + 1} of {x.file} is not pristine"
            lines[at] = new
        text = "\n".join(lines)
    else:
        for old, new in x.edits:
            text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")


def main(argv):
    if len(argv) == 3 and argv[1] == "list":
        for n, x in enumerate(all_mutants(argv[2]), 1):
            print(f"{n}\t{x.kind}\t{x.file}\t{x.description}")
    elif len(argv) == 4 and argv[1] == "apply":
        apply(argv[2], int(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
