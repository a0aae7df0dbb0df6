"""Can a tiny implicit PRM learn, from outcome labels, to rank a policy's right chains above its wrong ones?

An offline check of what bounds PRIME on the built-in arithmetic-chain task (issue 7):

1. sample K responses at T = 1 per prompt from POLICY for fresh train and held-out prompts shaped
   like the demo task's (2–3 `+`/`-` steps, operands 1–9, values 0–40) and label them
   (`\\boxed{answer}`). The chains are rejection-sampled here, so they cover the same problems
   as prime-data's generator (which draws among the valid operations step by step) with
   somewhat different weights;
2. print how well plain log-likelihoods rank them, with no training at all: the sum and the minimum
   over response tokens of log π(y_t), under PRM_INIT and under POLICY;
3. train an implicit PRM initialised from PRM_INIT, reference = frozen PRM_INIT (or --ref), with the
   PRIME loss BCE(σ(β Σ_t q_t), acc), q_t = log π_φ(y_t) − log π_ref(y_t) (docs/algorithm.md §7), on
   random mini-batches of the train rollouts, and print its held-out pairwise accuracy (dpo_acc: the
   share of (right, wrong) pairs of one prompt that Σ q orders correctly; ties count ½) as it
   learns.

`--params final_norm` trains only the final RMSNorm weight (`model.norm.weight`, hidden_size
numbers): the PRM can then only sharpen or flatten its distributions per hidden dimension.

    python3 tools/prm_probe.py POLICY_DIR PRM_INIT_DIR [--ref REF_DIR] [--params all|final_norm]
        [--train-prompts 600] [--eval-prompts 150] [--k 8] [--beta 0.05] [--lr 2e-4]
        [--batch 64] [--updates 400] [--every 50] [--seed 0]

Model directories are in Hugging Face layout, as the trainer writes them (`init/policy`, `final`).
Needs torch and transformers (not used by CI).
"""
import argparse
import random
import time

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast


def demo_problem(rng):
    """One chain of the demo task: (`3-1+9`, 11), every partial value in 0..=40."""
    while True:
        value = rng.randint(1, 9)
        expr, ok = str(value), True
        for _ in range(rng.randint(2, 3)):
            op, b = rng.choice("+-"), rng.randint(1, 9)
            value = value + b if op == "+" else value - b
            if not 0 <= value <= 40:
                ok = False
                break
            expr += op + str(b)
        if ok:
            return expr, value


class Rollouts:
    """Labelled responses: prompt ids, response ids (EOS included), acc ∈ {0, 1}, group id."""

    def __init__(self, policy, tok, eos, rng, n_prompts, k, first_group):
        self.rows = []
        for g in range(first_group, first_group + n_prompts):
            expr, answer = demo_problem(rng)
            chat = ("<|im_start|>user\nCompute from left to right: "
                    f"{expr}<|im_end|>\n<|im_start|>assistant\n")
            ids = tok(chat, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                out = policy.generate(torch.tensor([ids] * k), do_sample=True, temperature=1.0,
                                      top_k=0, top_p=1.0, max_new_tokens=40, eos_token_id=eos,
                                      pad_token_id=eos)
            for row in out[:, len(ids):].tolist():
                response = row[: row.index(eos) + 1] if eos in row else row
                text = tok.decode(response, skip_special_tokens=True).strip()
                acc = float(text.endswith("\\boxed{%d}" % answer))
                self.rows.append((ids, response, acc, g))

    def accuracy(self):
        return sum(r[2] for r in self.rows) / len(self.rows)


def padded(rows, pad):
    """ids, attention mask `[n, width]` and response mask `[n, width − 1]` over the targets."""
    width = max(len(p) + len(r) for p, r, _, _ in rows)
    ids = torch.full((len(rows), width), pad)
    attention = torch.zeros_like(ids)
    response = torch.zeros(len(rows), width)
    for i, (p, r, _, _) in enumerate(rows):
        ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        attention[i, : len(p) + len(r)] = 1
        response[i, len(p): len(p) + len(r)] = 1
    return ids, attention, response[:, 1:]


def token_log_probs(model, ids, attention):
    """log π(y_t | y_<t) for every target position: `[n, width − 1]`."""
    logits = model(ids, attention_mask=attention).logits[:, :-1].float()
    return torch.gather(F.log_softmax(logits, -1), 2, ids[:, 1:, None])[..., 0]


def pairwise(rows, scores):
    """Share of (right, wrong) pairs within a group that `scores` order correctly; ties ½."""
    groups = {}
    for row, s in zip(rows, scores):
        groups.setdefault(row[3], []).append((row[2], s))
    right = total = 0.0
    for items in groups.values():
        for acc_a, s_a in items:
            for acc_b, s_b in items:
                if acc_a > acc_b:
                    total += 1
                    right += 1.0 if s_a > s_b else 0.5 if s_a == s_b else 0.0
    return right / max(total, 1)


def likelihood_ranking(model, rows, pad):
    """Pairwise accuracy of Σ_t log π(y_t) and of min_t log π(y_t), with no training."""
    sums, mins = [], []
    for i in range(0, len(rows), 256):
        ids, attention, mask = padded(rows[i: i + 256], pad)
        with torch.no_grad():
            lp = token_log_probs(model, ids, attention)
        sums += (lp * mask).sum(1).tolist()
        mins += lp.masked_fill(mask == 0, 0.0).min(1).values.tolist()
    return pairwise(rows, sums), pairwise(rows, mins)


def sequence_q(prm, ref, rows, pad, grad):
    """Σ_t q_t per response: `[n]`, differentiable in the PRM when `grad`."""
    ids, attention, mask = padded(rows, pad)
    with torch.no_grad():
        ref_lp = token_log_probs(ref, ids, attention)
    with torch.set_grad_enabled(grad):
        return ((token_log_probs(prm, ids, attention) - ref_lp) * mask).sum(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("policy")
    ap.add_argument("prm_init")
    ap.add_argument("--ref", help="reference model (default: a frozen copy of PRM_INIT)")
    ap.add_argument("--params", choices=["all", "final_norm"], default="all")
    ap.add_argument("--train-prompts", type=int, default=600)
    ap.add_argument("--eval-prompts", type=int, default=150)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--beta", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--updates", type=int, default=400)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    start = time.time()

    tok = PreTrainedTokenizerFast(tokenizer_file=f"{args.policy}/tokenizer.json")
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    policy = AutoModelForCausalLM.from_pretrained(args.policy, dtype=torch.float32).eval()
    train = Rollouts(policy, tok, eos, rng, args.train_prompts, args.k, 0)
    held = Rollouts(policy, tok, eos, rng, args.eval_prompts, args.k, args.train_prompts)
    print(f"{len(train.rows)} train rollouts (acc {train.accuracy():.3f}), {len(held.rows)} "
          f"held-out (acc {held.accuracy():.3f}), sampled in {time.time() - start:.0f} s")

    prm = AutoModelForCausalLM.from_pretrained(args.prm_init, dtype=torch.float32)
    ref = AutoModelForCausalLM.from_pretrained(args.ref or args.prm_init,
                                               dtype=torch.float32).eval()
    for name, model in (("PRM_INIT", prm.eval()), ("POLICY", policy)):
        total, minimum = likelihood_ranking(model, held.rows, eos)
        print(f"held-out pairwise of log π under {name}, no training: "
              f"sum {total:.3f}, min {minimum:.3f}")

    params = [p for n, p in prm.named_parameters()
              if args.params == "all" or n == "model.norm.weight"]
    print(f"training {sum(p.numel() for p in params)} PRM parameters ({args.params}), "
          f"lr {args.lr}, beta {args.beta}, batch {args.batch}")
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    fit_rows = train.rows[: len(held.rows)]
    for update in range(args.updates + 1):
        if update % args.every == 0:
            prm.eval()
            held_q = torch.cat([sequence_q(prm, ref, held.rows[i: i + 256], eos, False)
                                for i in range(0, len(held.rows), 256)])
            fit_q = torch.cat([sequence_q(prm, ref, fit_rows[i: i + 256], eos, False)
                               for i in range(0, len(fit_rows), 256)])
            print(f"update {update}: held-out dpo_acc {pairwise(held.rows, held_q.tolist()):.3f}, "
                  f"on train rollouts {pairwise(fit_rows, fit_q.tolist()):.3f}", flush=True)
            prm.train()
        if update == args.updates:
            break
        batch = rng.sample(train.rows, args.batch)
        q = sequence_q(prm, ref, batch, eos, True)
        labels = torch.tensor([row[2] for row in batch])
        loss = F.binary_cross_entropy_with_logits(args.beta * q, labels)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prm.parameters(), 10.0)
        optimizer.step()


if __name__ == "__main__":
    main()
