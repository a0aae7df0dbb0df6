#!/usr/bin/env python3
"""Throughput of Hugging Face math-verify vs prime-verifiers' math verifier, in one run.

1. Times `verify(parse(gold), parse(response))` over the committed corpus
   (crates/verifiers/tests/data/math/corpus.jsonl), single process, two passes
   (the first warms math-verify's caches), for all rows and without the `pathological` rows
   (those hit math-verify's own 5 s timeouts and would inflate the ratio).
2. Runs `cargo bench -p prime-verifiers --bench math` (criterion, release) on the same rows
   and reads criterion's estimates.
3. Prints verdicts/s of both and the ratio.

Usage: python3 tools/math_verify_bench.py [--skip-cargo]
Environment: CARGO_TARGET_DIR (default: the workspace's `target`; run from the repository root).
"""
import argparse
import json
import os
import subprocess
import time

CORPUS = "crates/verifiers/tests/data/math/corpus.jsonl"


def time_math_verify(rows):
    from math_verify import parse, verify

    def one_pass():
        start = time.perf_counter()
        for row in rows:
            try:
                verify(parse("\\boxed{" + row["ground_truth"] + "}"), parse(row["response"]))
            except Exception:
                pass
        return time.perf_counter() - start

    one_pass()
    return len(rows) / one_pass()


def criterion_rate(target, name, n):
    path = os.path.join(target, "criterion", "math", name, "new", "estimates.json")
    with open(path) as f:
        est = json.load(f)
    seconds = est["mean"]["point_estimate"] / 1e9
    return n / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-cargo", action="store_true")
    args = ap.parse_args()
    rows = [json.loads(l) for l in open(CORPUS)]
    clean = [r for r in rows if r["category"] != "pathological"]
    mv_clean = time_math_verify(clean)
    mv_all = time_math_verify(rows)
    print(f"math-verify: {mv_all:.1f} verdicts/s on all {len(rows)} rows, "
          f"{mv_clean:.1f} verdicts/s on {len(clean)} non-pathological rows")
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    if not args.skip_cargo:
        env = dict(os.environ, CARGO_TARGET_DIR=target)
        subprocess.run(["cargo", "bench", "-p", "prime-verifiers", "--bench", "math"], check=True, env=env)
    ours_all = criterion_rate(target, "corpus", len(rows))
    ours_clean = criterion_rate(target, "corpus_no_pathological", len(clean))
    print(f"prime-verifiers: {ours_all:.0f} verdicts/s on all rows, {ours_clean:.0f} on non-pathological rows")
    print(f"ratio: {ours_all / mv_all:.0f}x on all rows, {ours_clean / mv_clean:.0f}x on non-pathological rows")


if __name__ == "__main__":
    main()
