"""Where outcome-only RL's gradient lands in a wrong response of the arithmetic-chain task.

For a token y_t with advantage A, the policy gradient on the logits is A·(onehot(y_t) − p_t); with
one advantage for the whole response (outcome-only RLOO) its size per token is A·g_t with
g_t = ‖onehot(y_t) − p_t‖₂. A process reward can only move credit between tokens, so the share of
Σ_t g_t that already falls on the first wrong token bounds what it can add.

The script samples one response at T = 1 per prompt from a checkpoint in Hugging Face layout (as the
trainer writes them: `init/policy`, `final`, `checkpoints/*/policy`), takes the prompts from
runs' samples.jsonl, and for every wrong response finds the first token where it leaves the
correct worked solution (`a+b=c` lines, then `\\boxed{v}`): token 0 for a guess (`\\boxed{…}`
straight away), the wrong line's token otherwise. It prints, per kind, the mean share of Σ g_t
before that token, on it and after it. The prompts are the ones the runs logged, not a uniform
draw of the task, so accuracy here is not the trainer's evaluation accuracy.

    python3 tools/gradient_share.py MODEL_DIR RUN_DIR… [--samples 300] [--seed 0]

Needs torch and transformers (not used by CI).
"""
import argparse
import json
import random
import re
from collections import defaultdict

import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast


def worked_solution(expr):
    """`2+1-2` → (`2+1=3\\n3-2=1\\n\\boxed{1}`, 1): the chain worked left to right."""
    nums = [int(x) for x in re.findall(r"\d+", expr)]
    ops = re.findall(r"[+\-*/]", expr)
    value, lines = nums[0], []
    for op, b in zip(ops, nums[1:]):
        result = {"+": value + b, "-": value - b, "*": value * b, "/": value // b if b else 0}[op]
        lines.append(f"{value}{op}{b}={result}\n")
        value = result
    return "".join(lines) + "\\boxed{%d}" % value, value


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("run_dirs", nargs="+", help="runs whose samples.jsonl supply the prompts")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    tok = PreTrainedTokenizerFast(tokenizer_file=f"{args.model_dir}/tokenizer.json")
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32).eval()
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    prompts = set()
    for run in args.run_dirs:
        with open(f"{run}/samples.jsonl") as f:
            prompts.update(json.loads(line)["prompt"] for line in f)
    prompts = sorted(prompts)

    stats, correct = defaultdict(list), 0
    for _ in range(args.samples):
        user = random.choice(prompts)
        gold_text, answer = worked_solution(user.split(":")[-1].strip())
        chat = f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
        ids = tok(chat, add_special_tokens=False)["input_ids"]
        gold = tok(gold_text, add_special_tokens=False)["input_ids"] + [eos]
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), do_sample=True, temperature=1.0, top_k=0,
                                 top_p=1.0, max_new_tokens=48, eos_token_id=eos, pad_token_id=eos)
        response = out[0, len(ids):].tolist()
        if tok.decode(response, skip_special_tokens=True).strip().endswith("\\boxed{%d}" % answer):
            correct += 1
            continue
        with torch.no_grad():
            p = torch.softmax(model(out).logits[0, len(ids) - 1:-1].float(), -1)
        onehot = torch.nn.functional.one_hot(torch.tensor(response), p.shape[-1]).float()
        g = (onehot - p).norm(dim=-1)
        k = next((i for i, (a, b) in enumerate(zip(response, gold)) if a != b),
                 min(len(response), len(gold)) - 1)
        total = g.sum().item()
        stats["guess" if k == 0 else "worked"].append(
            (g[:k].sum().item() / total, g[k].item() / total, g[k + 1:].sum().item() / total,
             len(response)))

    mean = lambda xs: round(sum(xs) / max(1, len(xs)), 3)
    report = {"model": args.model_dir, "prompts": len(prompts), "samples": args.samples,
              "accuracy": round(correct / args.samples, 3)}
    for kind, rows in sorted(stats.items()):
        report[kind] = {"wrong_responses": len(rows),
                        "share_before_first_wrong_token": mean([r[0] for r in rows]),
                        "share_on_it": mean([r[1] for r in rows]),
                        "share_after_it": mean([r[2] for r in rows]),
                        "mean_tokens": mean([r[3] for r in rows])}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
