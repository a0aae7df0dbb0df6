#!/usr/bin/env python3
"""Runs the `score` and `generate` examples on held-out Hugging Face checkpoints and compares them
with `transformers` (log-probs within 1e-4, greedy tokens identical).

    python3 tools/make_fixtures.py --held-out /tmp/prime-held-out
    cargo build --example score --example generate          # or --release
    python3 tools/check_examples.py /tmp/prime-held-out [--bin-dir target/debug/examples]
    PRIME_SAVE_DIR=/tmp/prime-saved cargo test -p prime-models --test hf_parity saved
    python3 tools/check_examples.py /tmp/prime-saved --saved   # our save_hf output in transformers

The held-out checkpoints (other seeds, shapes, GQA ratios, RoPE θ, dtypes — f32, bf16, f16 —,
config layouts, a sharded one and padded vocabularies) are never committed or used by the tests.
Each directory's `reference.json` holds what `transformers` computed when it was written; this
script also recomputes the greedy continuation of its sequence with `model.generate` here.
Exit status 0 when everything agrees.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

TOLERANCE = 1e-4
REPO = Path(__file__).resolve().parent.parent


def run_example(bin_dir: Path, name: str, args: list[str]) -> dict:
    proc = subprocess.run([str(bin_dir / name), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def hf_greedy(model, ids: list[int], new_tokens: int) -> tuple[list[int], list[float]]:
    with torch.no_grad():
        out = model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            eos_token_id=None,
            pad_token_id=0,
        )
    new = out.sequences[0, len(ids):]
    scores = torch.stack(out.scores, dim=1)[0].double()
    logp = torch.log_softmax(scores, dim=-1).gather(-1, new[:, None])[:, 0]
    return new.tolist(), logp.tolist()


def check(directory: Path, bin_dir: Path) -> list[str]:
    """Returns the failures for one checkpoint directory, printing its measured differences."""
    failures = []
    reference = json.loads((directory / "reference.json").read_text())
    single = reference["single"]
    ids = single["input_ids"]

    scored = run_example(bin_dir, "score", [str(directory), "--ids", ",".join(map(str, ids))])
    ours = scored["token_logprobs"]
    theirs = single["token_logprobs"]
    if len(ours) != len(theirs):
        failures.append(f"score: {len(ours)} values, expected {len(theirs)}")
    score_diff = max(abs(a - b) for a, b in zip(ours, theirs))

    model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    new_tokens = 10
    prompt = ids[:6]
    hf_ids, hf_logp = hf_greedy(model, prompt, new_tokens)
    generated = run_example(bin_dir, "generate", [str(directory), "--ids", ",".join(map(str, prompt)),
                                                  "--max-new-tokens", str(new_tokens), "--greedy"])
    same_tokens = generated["ids"] == hf_ids
    gen_diff = max(abs(a - b) for a, b in zip(generated["logprobs"], hf_logp))
    if not same_tokens:
        failures.append(f"generate: ids {generated['ids']} != transformers {hf_ids}")

    # The committed-style batched greedy reference (left-padded batch through transformers).
    batch_ok = True
    for case in reference["greedy"]:
        if len(case["prompts"]) != 1:
            continue
        out = run_example(bin_dir, "generate", [str(directory), "--ids", ",".join(map(str, case["prompts"][0])),
                                                "--max-new-tokens", str(case["max_new_tokens"]), "--greedy"])
        batch_ok &= out["ids"] == case["new_ids"][0]
    if not batch_ok:
        failures.append("generate: differs from reference.json greedy continuation")

    # The friendly form: tokenizer + chat template, sampling with a seed, twice (reproducible).
    sample_args = [str(directory), "--prompt", "What is 7 * 8?", "--max-new-tokens", "6",
                   "--temperature", "0.8", "--top-p", "0.9", "--top-k", "20", "--seed", "7"]
    first = run_example(bin_dir, "generate", sample_args)
    second = run_example(bin_dir, "generate", sample_args)
    if first != second or "text" not in first:
        failures.append("generate --prompt: not reproducible or no text")

    if score_diff > TOLERANCE:
        failures.append(f"score: max |Δlogp| = {score_diff:.2e}")
    if gen_diff > TOLERANCE:
        failures.append(f"generate: max |Δlogp| = {gen_diff:.2e}")
    config = json.loads((directory / "config.json").read_text())
    layout = "v5" if "rope_parameters" in config else "v4"
    dtype = config.get("dtype") or config.get("torch_dtype")
    print(f"{directory.name:22s} {dtype:9s} {layout}  vocab {config['vocab_size']:4d}  "
          f"heads {config['num_attention_heads']}/{config['num_key_value_heads']}  "
          f"score max|Δ| {score_diff:.2e}  greedy tokens {'same' if same_tokens else 'DIFFER'}  "
          f"greedy max|Δlogp| {gen_diff:.2e}")
    return failures


def check_saved(directory: Path, bin_dir: Path) -> list[str]:
    """A checkpoint written by prime-models' `save_hf` (see the `PRIME_SAVE_DIR` test): transformers
    loads it, and our `score` agrees with transformers on it."""
    failures = []
    reference = json.loads((directory / "reference.json").read_text())
    ids = reference["single"]["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits.double()
    logp = torch.log_softmax(logits[0, :-1], dim=-1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
    ours = run_example(bin_dir, "score", [str(directory), "--ids", ",".join(map(str, ids))])["token_logprobs"]
    diff = max(abs(a - b) for a, b in zip(ours, logp.tolist()))
    original = torch.tensor(reference["single"]["logits"]).reshape(reference["single"]["logits_shape"])
    drift = (logits.float() - original).abs().max().item()
    print(f"{directory.name:26s} loads in transformers; score vs transformers max|Δlogp| {diff:.2e}; "
          f"logits vs the original checkpoint max|Δ| {drift:.2e}")
    if diff > TOLERANCE:
        failures.append(f"score on the saved checkpoint differs from transformers by {diff:.2e}")
    if directory.name.endswith("_f32") and drift > TOLERANCE:
        failures.append(f"f32 save changed the logits by {drift:.2e}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("held_out", type=Path, help="directory written by make_fixtures.py --held-out")
    parser.add_argument("--bin-dir", type=Path, default=REPO / "target" / "debug" / "examples",
                        help="where the built score and generate binaries are (default: %(default)s)")
    parser.add_argument("--saved", action="store_true",
                        help="the directory holds checkpoints saved by prime-models (PRIME_SAVE_DIR)")
    args = parser.parse_args()
    checker = check_saved if args.saved else check
    dirs = sorted(p for p in args.held_out.iterdir() if (p / "reference.json").is_file())
    if not dirs:
        print(f"no checkpoints under {args.held_out}", file=sys.stderr)
        return 2
    failures = []
    for directory in dirs:
        try:
            failures += [f"{directory.name}: {f}" for f in checker(directory, args.bin_dir)]
        except RuntimeError as err:
            failures.append(f"{directory.name}: {err}")
    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    print("all checkpoints agree" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
