#!/usr/bin/env python3
"""PyTorch (CPU) timings of the shapes in crates/models/benches/models.rs.

Same configs (tiny, small_10m, the 4.5M backend-comparison model), batch 8 x 128 with the first
row left-padded by 8, the same operations:

- forward: logits of the batch (no grad);
- token_log_probs: forward + log-softmax + gather of the next tokens, masked;
- generate_8x32: Hugging Face `generate`, 8 prompts of 16 tokens, 32 sampled new tokens each
  (temperature 1, no stop token), KV cache on;
- train_step: forward + backward of -mean(token log-probs) + clip_grad_norm_(1.0) + AdamW step.

Prints one JSON object: {"<config>/<op>": median milliseconds, ...}.
Usage: python3 tools/bench_torch.py [--threads 2] [--repeats 10]
"""

import argparse
import json
import statistics
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

BATCH, SEQ = 8, 128

BASE = dict(
    hidden_act="silu",
    max_position_embeddings=2048,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    tie_word_embeddings=True,
    initializer_range=0.02,
    use_sliding_window=False,
)
CONFIGS = {
    "tiny": dict(vocab_size=512, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2),
    "small_10m": dict(vocab_size=8192, hidden_size=256, intermediate_size=768, num_hidden_layers=10,
                      num_attention_heads=8, num_key_value_heads=4),
    "backend_4_5m": dict(vocab_size=5120, hidden_size=256, intermediate_size=768,
                         num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4),
}


def token_batch(vocab, length):
    """Pseudo-random ids (xorshift, as in the Rust bench) and a mask left-padding row 0 by 8."""
    state = 0x2545F4914F6CDD1D
    ids = []
    for _ in range(BATCH * length):
        state ^= (state << 13) & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 7
        state ^= (state << 17) & 0xFFFFFFFFFFFFFFFF
        ids.append(state % vocab)
    mask = [0 if (i < length and i % length < 8) else 1 for i in range(BATCH * length)]
    ids = torch.tensor(ids).view(BATCH, length)
    mask = torch.tensor(mask).view(BATCH, length)
    return ids, mask


def positions(mask):
    return (mask.cumsum(-1) - 1).clamp(min=0)


def token_log_probs(logits, ids, mask):
    log_p = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = log_p.gather(2, (ids[:, 1:] * mask[:, 1:]).unsqueeze(-1)).squeeze(-1)
    return picked * mask[:, 1:]


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench(name, spec, repeats):
    torch.manual_seed(0)
    config = Qwen2Config(**BASE, **spec)
    model = Qwen2ForCausalLM(config).float()
    ids, mask = token_batch(spec["vocab_size"], SEQ)
    pos = positions(mask)
    out = {}
    model.eval()
    with torch.no_grad():
        out[f"{name}/forward"] = median_ms(
            lambda: model(input_ids=ids, attention_mask=mask, position_ids=pos).logits, repeats)
        out[f"{name}/token_log_probs"] = median_ms(
            lambda: token_log_probs(
                model(input_ids=ids, attention_mask=mask, position_ids=pos).logits, ids, mask),
            repeats)
        prompt_ids, prompt_mask = token_batch(spec["vocab_size"], 16)
        out[f"{name}/generate_8x32"] = median_ms(
            lambda: model.generate(
                input_ids=prompt_ids, attention_mask=prompt_mask, max_new_tokens=32,
                min_new_tokens=32, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                pad_token_id=0, eos_token_id=None),
            max(3, repeats // 2))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                                  weight_decay=0.0)

    def step():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
        loss = -token_log_probs(logits, ids, mask).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    out[f"{name}/train_step"] = median_ms(step, repeats)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--only", default=None, help="comma-separated config names")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.only.split(",") if args.only else list(CONFIGS)
    results = {"torch": torch.__version__, "threads": args.threads}
    for name in names:
        results.update(bench(name, CONFIGS[name], args.repeats))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
