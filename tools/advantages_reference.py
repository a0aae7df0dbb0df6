#!/usr/bin/env python3
"""Independent pure-Python reference of docs/algorithm.md §9 (advantage estimators).

Written from docs/algorithm.md, not from the Rust code: float64, ragged lists, explicit sums.
No dependencies beyond the standard library.

Usage:
  # the same interface as the `advantages` example (examples/advantages/)
  python3 tools/advantages_reference.py estimate <name> [options] < batch.json > out.json

  # held-out check of the example binary on random batches (exit 1 on any mismatch)
  cargo build --release --example advantages
  python3 tools/advantages_reference.py check --bin target/release/examples/advantages \
      [--cases 600] [--seed 1] [--tol 1e-5]

Options (defaults from docs/algorithm.md): --gamma-process 1 --gamma-outcome 1 --process-coef 1
--outcome-coef 1 --variant code|paper --norm batch_norm|none --granularity token|whole
--whiten true|false (default: true for rloo, reinforce_pp, gae, prm_value; false otherwise)
--lambda 1 --scale group|batch|none.

Semantics fixed here (and in the crate docs):
  * the outcome is a reward acc_i on the last valid token, discounted by gamma_outcome;
  * process rewards: granularity `whole` moves sum_t r to the last token, then `batch_norm`
    divides by max_{i,t} |sum_{s>=t} r_{i,s}| + 1e-6 (process_coef = 0 or no `process` = off);
  * rloo: leave-one-out per source (code or paper variant), discounted returns per source,
    G = c_p G^p + c_o G^o; grpo: Eq. 7 with std + 1e-6 (group / batch / none);
  * reinforce / reinforce_pp: G = c_p sum gamma_p^(s-t) r^p + c_o gamma_o^(L-1-t) acc;
  * gae: rewards c_p r^p + c_o acc 1[t = L-1], values from the batch, V_L = 0, gamma =
    gamma_outcome (gamma_process must equal it when the process source is on);
  * prm_value: GAE with V_t = c_p sum_{s<t} r^p_s and outcome-only rewards;
  * whitening: (x - mean) / sqrt(unbiased var + 1e-8) over all valid tokens; returns are the
    pre-whitening values (A + V for gae / prm_value).
"""

import json
import math
import random
import struct
import subprocess
import sys

ESTIMATORS = ["rloo", "grpo", "reinforce", "reinforce_pp", "gae", "prm_value"]
DEFAULTS = {
    "gamma_process": 1.0,
    "gamma_outcome": 1.0,
    "process_coef": 1.0,
    "outcome_coef": 1.0,
    "variant": "code",
    "norm": "batch_norm",
    "granularity": "token",
    "whiten": None,
    "lambda": 1.0,
    "scale": "group",
}
WHITEN_DEFAULT = {
    "rloo": True,
    "grpo": False,
    "reinforce": False,
    "reinforce_pp": True,
    "gae": True,
    "prm_value": True,
}
CHOICES = {
    "variant": ["code", "paper"],
    "norm": ["batch_norm", "none"],
    "granularity": ["token", "whole"],
    "scale": ["group", "batch", "none"],
}


class Refused(Exception):
    """The estimator cannot run on this input (the Rust side must fail too)."""


def parse_options(argv):
    opts = dict(DEFAULTS)
    k = 0
    while k < len(argv):
        arg = argv[k]
        if "=" in arg:
            flag, value = arg.split("=", 1)
        else:
            flag = arg
            if k + 1 >= len(argv):
                raise SystemExit("option %s needs a value" % flag)
            value = argv[k + 1]
            k += 1
        k += 1
        key = flag[2:].replace("-", "_")
        if key not in opts:
            raise SystemExit("unknown option %s" % flag)
        if key in CHOICES:
            if value not in CHOICES[key]:
                raise SystemExit("bad value %s for %s" % (value, flag))
            opts[key] = value
        elif key == "whiten":
            opts[key] = {"true": True, "false": False}[value]
        else:
            opts[key] = float(value)
    return opts


def options_to_argv(opts):
    argv = []
    for key, value in opts.items():
        if value is None or value == DEFAULTS[key]:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            value = "true" if value else "false"
        argv += [flag, str(value)]
    return argv


def suffix_sums(row, gamma):
    """G_t = sum_{s >= t} gamma^(s-t) row[s], computed as an explicit double sum."""
    n = len(row)
    return [sum(gamma ** (s - t) * row[s] for s in range(t, n)) for t in range(n)]


def mean(xs):
    return sum(xs) / len(xs)


def sample_std(xs):
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def estimate(name, opts, batch):
    group, lengths, acc = batch["group"], batch["lengths"], batch["acc"]
    n = len(lengths)
    if n == 0:
        raise Refused("empty batch")
    if len(group) != n or len(acc) != n:
        raise Refused("size mismatch")
    for key in ("process", "values"):
        if batch.get(key) is not None:
            if len(batch[key]) != n or any(len(r) != l for r, l in zip(batch[key], lengths)):
                raise Refused("ragged %s" % key)
    if any(l < 1 for l in lengths):
        raise Refused("empty response")
    cp, co = opts["process_coef"], opts["outcome_coef"]
    gp, go, lam = opts["gamma_process"], opts["gamma_outcome"], opts["lambda"]

    # process source after granularity and normalisation (None when off)
    proc = None
    if batch.get("process") is not None and cp != 0.0:
        proc = [[float(x) for x in row] for row in batch["process"]]
        if opts["granularity"] == "whole":
            proc = [[0.0] * (len(r) - 1) + [sum(r)] for r in proc]
        if opts["norm"] == "batch_norm":
            biggest = max(abs(v) for r in proc for v in suffix_sums(r, 1.0))
            proc = [[x / (biggest + 1e-6) for x in r] for r in proc]
    zero = [[0.0] * l for l in lengths]
    p = proc if proc is not None else zero
    cp_eff = cp if proc is not None else 0.0
    outcome = [[0.0] * (l - 1) + [float(a)] for l, a in zip(lengths, acc)]
    members = {}
    for i, g in enumerate(group):
        members.setdefault(g, []).append(i)

    def need_groups():
        if any(len(m) < 2 for m in members.values()):
            raise Refused("group of one")

    def combine(gp_rows, go_rows):
        return [[cp_eff * a + co * b for a, b in zip(ra, rb)] for ra, rb in zip(gp_rows, go_rows)]

    if name == "rloo":
        need_groups()

        def rloo(rows, on):
            """on(i, t): whether token t of response i is in the source's mask."""
            mu = [mean([rows[j][t] for t in range(lengths[j]) if on(j, t)]) for j in range(n)]
            out = [[0.0] * l for l in lengths]
            for i in range(n):
                m = members[group[i]]
                k = len(m)
                s = sum(mu[j] for j in m)
                for t in range(lengths[i]):
                    if on(i, t):
                        if opts["variant"] == "code":
                            out[i][t] = k / (k - 1) * rows[i][t] - s / (k - 1)
                        else:
                            out[i][t] = rows[i][t] - (s - mu[i]) / (k - 1)
            return out

        rp = rloo(p, lambda j, t: True)
        ro = rloo(outcome, lambda j, t: t == lengths[j] - 1)
        g = combine([suffix_sums(r, gp) for r in rp], [suffix_sums(r, go) for r in ro])
        adv, ret = g, g
    elif name == "grpo":
        need_groups()
        mu = [sum(p[j]) / lengths[j] for j in range(n)]
        accs = [float(a) for a in acc]

        def divisor(xs_group, xs_all):
            if opts["scale"] == "group":
                return sample_std(xs_group) + 1e-6
            if opts["scale"] == "batch":
                return sample_std(xs_all) + 1e-6
            return 1.0

        rp, ro = [], []
        for i in range(n):
            m = members[group[i]]
            ga, gm = [accs[j] for j in m], [mu[j] for j in m]
            sp, so = divisor(gm, mu), divisor(ga, accs)
            rp.append([(x - mean(gm)) / sp for x in p[i]])
            ro.append([0.0] * (lengths[i] - 1) + [(accs[i] - mean(ga)) / so])
        g = combine([suffix_sums(r, gp) for r in rp], [suffix_sums(r, go) for r in ro])
        adv, ret = g, g
    elif name in ("reinforce", "reinforce_pp"):
        g = combine([suffix_sums(r, gp) for r in p], [suffix_sums(r, go) for r in outcome])
        adv, ret = g, g
    elif name in ("gae", "prm_value"):
        if name == "gae":
            if batch.get("values") is None:
                raise Refused("gae needs values")
            if proc is not None and gp != go:
                raise Refused("gae needs one gamma")
            values = [[float(v) for v in r] for r in batch["values"]]
            rewards = combine(p, outcome)
        else:
            if batch.get("process") is None:
                raise Refused("prm_value needs process")
            values = [[cp_eff * sum(r[:t]) for t in range(len(r))] for r in p]
            rewards = [[co * x for x in r] for r in outcome]
        adv, ret = [], []
        for r, v in zip(rewards, values):
            vn = v + [0.0]
            delta = [r[t] + go * vn[t + 1] - vn[t] for t in range(len(r))]
            a = suffix_sums(delta, go * lam)
            adv.append(a)
            ret.append([x + y for x, y in zip(a, v)])
    else:
        raise Refused("unknown estimator %s" % name)

    whiten = opts["whiten"] if opts["whiten"] is not None else WHITEN_DEFAULT[name]
    if whiten:
        flat = [x for r in adv for x in r]
        if len(flat) < 2:
            raise Refused("too few tokens to whiten")
        m = mean(flat)
        var = sum((x - m) ** 2 for x in flat) / (len(flat) - 1)
        adv = [[(x - m) / math.sqrt(var + 1e-8) for x in r] for r in adv]
    return {"advantages": adv, "returns": ret}


def f32(x):
    """Round to the nearest float32, so both sides start from identical inputs."""
    return struct.unpack("f", struct.pack("f", x))[0]


def random_batch(rng):
    groups = rng.randint(1, 4)
    width = rng.randint(1, 16)
    singles = rng.random() < 0.1
    group = []
    for g in range(groups):
        group += [g * 5 + 2] * rng.randint(1 if singles else 2, 6)
    rng.shuffle(group)
    n = len(group)
    lengths = [width if rng.random() < 0.25 else rng.randint(1, width) for _ in range(n)]
    acc = [rng.choice([0.0, 1.0, f32(rng.random())]) for _ in range(n)]
    batch = {"group": group, "lengths": lengths, "acc": acc}
    if rng.random() < 0.85:
        batch["process"] = [[f32(rng.uniform(-1, 1)) for _ in range(l)] for l in lengths]
    if rng.random() < 0.85:
        batch["values"] = [[f32(rng.random()) for _ in range(l)] for l in lengths]
    return batch


def random_options(rng, name):
    gammas = [1.0, 1.0, 0.9, 0.5, 0.0]
    opts = dict(DEFAULTS)
    opts["gamma_outcome"] = rng.choice(gammas)
    opts["gamma_process"] = rng.choice(gammas)
    if name == "gae" and rng.random() < 0.8:
        opts["gamma_process"] = opts["gamma_outcome"]
    opts["process_coef"] = rng.choice([1.0, 1.0, 0.0, 0.5, 2.0])
    opts["outcome_coef"] = rng.choice([1.0, 1.0, 0.0, 3.0])
    for key, values in CHOICES.items():
        opts[key] = rng.choice(values)
    opts["whiten"] = rng.choice([None, True, False])
    opts["lambda"] = rng.choice([1.0, 0.95, 0.5, 0.0])
    return opts


def run_bin(binary, argv, stdin_text):
    proc = subprocess.run(
        [binary] + argv, input=stdin_text, capture_output=True, text=True, timeout=60
    )
    return proc.returncode, proc.stdout, proc.stderr


def check(argv):
    args = {"--bin": None, "--cases": "600", "--seed": "1", "--tol": "1e-5"}
    for k in range(0, len(argv), 2):
        if argv[k] not in args or k + 1 >= len(argv):
            raise SystemExit(__doc__)
        args[argv[k]] = argv[k + 1]
    if args["--bin"] is None:
        raise SystemExit("check needs --bin PATH")
    binary, tol = args["--bin"], float(args["--tol"])
    rng = random.Random(int(args["--seed"]))
    compared = refused = 0
    worst = 0.0
    per_estimator = {name: 0 for name in ESTIMATORS}
    for case in range(int(args["--cases"])):
        name = ESTIMATORS[case % len(ESTIMATORS)]
        batch, opts = random_batch(rng), random_options(rng, name)
        cli = [name] + options_to_argv(opts)
        code, out, err = run_bin(binary, cli, json.dumps(batch))
        try:
            want = estimate(name, opts, batch)
        except Refused as why:
            if code == 0:
                print("case %d %s: reference refused (%s) but the binary succeeded" % (case, cli, why))
                return 1
            refused += 1
            continue
        if code != 0:
            print("case %d %s: binary failed: %s" % (case, cli, err.strip()))
            return 1
        got = json.loads(out)
        for key in ("advantages", "returns"):
            if [len(r) for r in got[key]] != batch["lengths"]:
                print("case %d: %s rows have the wrong lengths" % (case, key))
                return 1
            for i, (rg, rw) in enumerate(zip(got[key], want[key])):
                for t, (a, e) in enumerate(zip(rg, rw)):
                    diff = abs(a - e) / max(1.0, abs(e))
                    worst = max(worst, diff)
                    if diff > tol:
                        print("case %d %s: %s[%d][%d] = %r, reference %r" % (case, cli, key, i, t, a, e))
                        print(json.dumps(batch))
                        return 1
        compared += 1
        per_estimator[name] += 1
    print(
        "agreement: %d batches compared (%s), %d refused by both, worst |diff|/max(1,|ref|) = %.3g (tol %g)"
        % (compared, ", ".join("%s %d" % kv for kv in per_estimator.items()), refused, worst, tol)
    )
    bad_inputs = [
        ("malformed JSON", ["rloo"], '{"group": [0, 0], "lengths": [1, 1], "acc": [1.0'),
        ("inconsistent lengths", ["rloo"], '{"group": [0, 0], "lengths": [2, 1], "acc": [1, 0], "process": [[0.1], [0.2]]}'),
        ("size mismatch", ["rloo"], '{"group": [0, 0, 0], "lengths": [1, 1], "acc": [1, 0]}'),
        ("unknown key", ["rloo"], '{"group": [0, 0], "lengths": [1, 1], "acc": [1, 0], "proces": [[1], [1]]}'),
        ("non-number acc", ["rloo"], '{"group": [0, 0], "lengths": [1, 1], "acc": [1, "nan"]}'),
        ("unknown estimator", ["rlo"], '{"group": [0, 0], "lengths": [1, 1], "acc": [1, 0]}'),
        ("bad option", ["rloo", "--norm", "l2"], '{"group": [0, 0], "lengths": [1, 1], "acc": [1, 0]}'),
        ("group of one", ["rloo"], '{"group": [0, 1], "lengths": [1, 1], "acc": [1, 0]}'),
    ]
    for label, cli, text in bad_inputs:
        code, out, err = run_bin(binary, cli, text)
        if code == 0 or not err.strip():
            print("%s: expected a message and a non-zero exit, got %d %r" % (label, code, err))
            return 1
        print("rejected %-20s exit %d: %s" % (label, code, err.strip().splitlines()[0]))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "estimate":
        name, opts = argv[1], parse_options(argv[2:])
        try:
            result = estimate(name, opts, json.load(sys.stdin))
        except Refused as why:
            print("refused: %s" % why, file=sys.stderr)
            return 1
        json.dump(result, sys.stdout)
        print()
        return 0
    if argv and argv[0] == "check":
        return check(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
