#!/usr/bin/env python3
"""Builds the Hugging Face `peft` LoRA fixture that crates/models/tests/peft_fixture.rs compares
prime-models' adapters against (issue 19).

    pip install -r tools/requirements.txt peft
    python3 tools/make_peft_fixture.py      # rewrites crates/models/tests/data/qwen2_peft_lora/

What it writes (about 200 KB; CI never runs this script and never installs torch or peft):

* ``base/``: a tiny random Qwen2 (``config.json`` + ``model.safetensors``, float32, tied, q/k/v
  biases and norms perturbed as in ``tools/make_fixtures.py``), written by ``save_pretrained``;
* ``adapter/``: a LoRA adapter (r = 4, lora_alpha = 8, on q_proj, v_proj, o_proj, up_proj and
  down_proj; k_proj and gate_proj stay bare) written by ``PeftModel.save_pretrained``
  (``adapter_config.json`` + ``adapter_model.safetensors``, PEFT's tensor names). Both ``A`` and
  ``B`` are random, so the adapter moves the logits by far more than the tolerance;
* ``reference.json``: a left-padded batch of token ids with its attention mask, and what ``peft``
  computes from it in float32 with eager attention: the logits and next-token log-probs of the
  adapted model (``PeftModel``) and of the model ``merge_and_unload()`` returns, the bare base's
  log-probs, and the adapter file's tensor names and shapes as ``safetensors`` reads them.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors import safe_open
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import forward, next_token_log_probs, perturb, rounded  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "crates" / "models" / "tests" / "data" / "qwen2_peft_lora"

SEED = 31
RANK = 4
ALPHA = 8
TARGETS = ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
VOCAB = 128
LENGTHS = [12, 9, 4]  # a left-padded batch


def build_base(out: Path) -> None:
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    config = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rope_parameters={"rope_theta": 10000.0, "rope_type": "default"},
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    model = Qwen2ForCausalLM(config).eval()
    perturb(model, gen)
    model.tie_weights()
    model.save_pretrained(str(out))


def load_base(out: Path):
    return AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32, attn_implementation="eager").eval()


def build_adapter(base_dir: Path, out: Path) -> None:
    model = load_base(base_dir)
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=TARGETS, lora_dropout=0.0, bias="none",
                        task_type="CAUSAL_LM", init_lora_weights=True)
    peft_model = get_peft_model(model, config)
    # PEFT's default init has B = 0 (the adapter is a no-op); make both factors random so that a
    # transposed A or B, a wrong scale or a missing module shows in the logits.
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                fan_in = p.shape[1]
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in**0.5)
    # Where the base lives, relative to the repository (PEFT records the absolute path it loaded).
    peft_model.peft_config["default"].base_model_name_or_path = str(base_dir.relative_to(REPO))
    peft_model.save_pretrained(str(out))
    (out / "README.md").unlink(missing_ok=True)  # PEFT's model-card stub
    # PEFT keeps target_modules as a set, so their order on disk changes from run to run: sort
    # them, so that rerunning this script rewrites the same bytes.
    path = out / "adapter_config.json"
    config = json.loads(path.read_text())
    config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True))


def batch(rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(LENGTHS)
    rows = [[rng.randrange(VOCAB) for _ in range(n)] for n in LENGTHS]
    pad_id = rng.randrange(VOCAB)  # a real id under the mask, so ignoring the mask shows
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def outputs(model, ids: torch.Tensor, mask: torch.Tensor) -> dict:
    logits = forward(model, ids, mask) * mask[..., None]  # logits under padding are unspecified: 0
    # Entry t predicts token t+1 from position t; unspecified (0 here) where t is padding.
    logp = next_token_log_probs(logits, ids, mask) * mask[:, :-1]
    return {"logits": rounded(logits), "token_logprobs": rounded(logp), "_logits": logits}


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    base_dir, adapter_dir = OUT / "base", OUT / "adapter"
    build_base(base_dir)
    build_adapter(base_dir, adapter_dir)

    ids, mask = batch(random.Random(SEED + 2))
    base = outputs(load_base(base_dir), ids, mask)
    adapted_model = PeftModel.from_pretrained(load_base(base_dir), str(adapter_dir)).eval()
    adapted = outputs(adapted_model, ids, mask)
    merged = outputs(adapted_model.merge_and_unload().eval(), ids, mask)

    merge_diff = (adapted["_logits"] - merged["_logits"]).abs().max().item()
    adapter_effect = (adapted["_logits"] - base["_logits"]).abs().max().item()
    assert merge_diff < 1e-4, f"peft's merge moves the logits by {merge_diff}"
    assert adapter_effect > 0.5, f"the adapter barely moves the logits ({adapter_effect})"

    with safe_open(str(adapter_dir / "adapter_model.safetensors"), "pt") as f:
        tensors = {name: list(f.get_slice(name).get_shape()) for name in sorted(f.keys())}
    reference = {
        "peft_version": __import__("peft").__version__,
        "rank": RANK,
        "lora_alpha": ALPHA,
        "target_modules": TARGETS,
        "adapter_tensors": tensors,
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "logits_shape": list(adapted["_logits"].shape),
        "max_abs_adapted_minus_merged": merge_diff,
        "max_abs_adapted_minus_base": adapter_effect,
    }
    for key, out in (("adapted", adapted), ("merged", merged)):
        reference[key] = {k: v for k, v in out.items() if not k.startswith("_")}
    reference["base"] = {"token_logprobs": base["token_logprobs"]}
    (OUT / "reference.json").write_text(json.dumps(reference) + "\n")
    print(f"wrote {OUT}: {len(tensors)} adapter tensors, |adapted - merged| <= {merge_diff:.2e}, "
          f"|adapted - base| up to {adapter_effect:.2f}")


if __name__ == "__main__":
    main()
