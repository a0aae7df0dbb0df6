"""Writes prime-data's test fixtures: small files in the Eurus-2-RL-Data layouts with malformed
rows, and for each an `.expected.json` the Rust tests compare the readers against.

The expectations are written here, independently of the Rust reader: which rows are valid, their
ids and ground truths, and for every malformed row its 0-based row index and the offending field.

Run from the repository root:  python3 tools/make_data_fixtures.py
Needs: pip install pyarrow
"""
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

OUT = os.path.join("crates", "data", "tests", "data")

MATH_SYSTEM = (
    "\nWhen tackling complex reasoning tasks, you have access to the following actions. "
    "Use them as needed to progress through your thought process.\n\n[ASSESS]\n\n[ADVANCE]\n\n"
    "[VERIFY]\n\n[SIMPLIFY]\n\n[SYNTHESIZE]\n\n[PIVOT]\n\n[OUTPUT]\n\n"
)
MATH_SUFFIX = "\n\nPresent the answer in LaTex format: \\boxed{Your answer}"
CODE_SUFFIX = "\n\nWrite Python code to solve the problem. Present the code in \n```python\nYour code\n```\nat the end."

MATH = [
    ("numina_olympiads", "Find the sum of the first 10 positive integers.", "55"),
    ("numina_synthetic_math", "Compute $\\frac{3}{4} + \\frac{1}{4}$.", "1"),
    ("numina_cn_k12", "Solve $2x + 3 = 11$ for $x$.", "4"),
    ("numina_amc_aime", "What is $\\sqrt{144}$?", "12"),
    ("numina_olympiads", "Evaluate $\\sin^2 x + \\cos^2 x$.", "1"),
    ("numina_synthetic_amc", "How many primes are below 20?", "8"),
    ("numina_aops_forum", "Give the interval where $x^2 < 4$.", "(-2, 2)"),
    ("numina_math", "Simplify $\\frac{10}{4}$.", "\\frac{5}{2}"),
]
CODE = [
    ("apps", "Read two integers and print their sum.",
     {"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}),
    ("taco", "Return the reverse of a string.",
     {"inputs": ["\"abc\""], "outputs": ["\"cba\""], "fn_name": "reverse"}),
    ("codecontests", "Print the maximum of n numbers.",
     {"inputs": ["3\n1 5 2\n"], "outputs": ["5\n"]}),
    ("codeforces", "Print YES if n is even, else NO.",
     {"inputs": ["4\n", "7\n"], "outputs": ["YES\n", "NO\n"]}),
]


def verl_row(source, question, truth, ability, index, split="train"):
    suffix = MATH_SUFFIX if ability == "math" else CODE_SUFFIX
    gt = truth if isinstance(truth, str) else json.dumps(truth)
    return {
        "data_source": source,
        "prompt": [
            {"content": MATH_SYSTEM, "role": "system"},
            {"content": question + suffix, "role": "user"},
        ],
        "ability": ability,
        "reward_model": {"ground_truth": gt, "style": "rule"},
        "extra_info": {"index": index, "split": split},
    }


def good_rows():
    rows = []
    for i, (source, question, truth) in enumerate(MATH):
        rows.append(verl_row(source, question, truth, "math", i))
    for i, (source, question, truth) in enumerate(CODE):
        rows.append(verl_row(source, question, truth, "code", 100 + i))
    return rows


def expected(rows_and_flags, path_stem):
    """rows_and_flags: list of (row dict, bad field or None)."""
    problems, bad, by_ability = [], [], {}
    for row_index, (row, bad_field) in enumerate(rows_and_flags):
        if bad_field is not None:
            bad.append({"row": row_index, "field": bad_field})
            continue
        extra = row.get("extra_info")
        if row.get("id") is not None:
            pid = str(row["id"])
        elif extra is not None and extra.get("split") is not None and extra.get("index") is not None:
            pid = f"{extra['split']}-{extra['index']}"
        else:
            pid = f"{path_stem}-{row_index}"
        ability = row["ability"]
        by_ability[ability] = by_ability.get(ability, 0) + 1
        problems.append({
            "id": pid,
            "data_source": row["data_source"],
            "ability": ability,
            "ground_truth": row["reward_model"]["ground_truth"],
            "n_messages": len(row["prompt"]),
        })
    return {"rows": len(problems), "skipped": len(bad), "by_ability": by_ability,
            "problems": problems, "bad_rows": bad}


VERL_SCHEMA = pa.schema([
    ("data_source", pa.string()),
    ("prompt", pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))),
    ("ability", pa.string()),
    ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
    ("extra_info", pa.struct([("index", pa.int64()), ("split", pa.string())])),
])


def write_verl_parquet(rows, stem):
    """`rows`: (row dict, bad field or None). Writes `{stem}.parquet` in 4-row row groups and its
    expectations; returns the table."""
    table = pa.Table.from_pylist([r for r, _ in rows], schema=VERL_SCHEMA)
    pq.write_table(table, os.path.join(OUT, stem + ".parquet"), row_group_size=4, compression="snappy")
    write_json(stem + ".parquet.expected.json", expected(rows, stem))
    return table


def verl_parquet():
    good = good_rows()
    # Interleave malformed rows with good ones; every malformed kind a parquet file can hold
    # under a valid schema (nulls, empty lists, empty strings, missing user turn).
    def broken(field, mutate):
        row = verl_row("numina_olympiads", "Broken row.", "0", "math", 999)
        mutate(row)
        return (row, field)

    def set_path(row, keys, value):
        target = row
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    bad = [
        broken("reward_model.ground_truth", lambda r: set_path(r, ["reward_model", "ground_truth"], None)),
        broken("prompt", lambda r: set_path(r, ["prompt"], [])),
        broken("prompt[1].content", lambda r: set_path(r, ["prompt"], [r["prompt"][0], {"content": None, "role": "user"}])),
        broken("ability", lambda r: set_path(r, ["ability"], "")),
        broken("reward_model", lambda r: set_path(r, ["reward_model"], None)),
        broken("prompt", lambda r: set_path(r, ["prompt"], [r["prompt"][0]])),
        broken("data_source", lambda r: set_path(r, ["data_source"], None)),
        broken("reward_model.ground_truth", lambda r: set_path(r, ["reward_model", "ground_truth"], "   ")),
        broken("prompt[0].role", lambda r: set_path(r, ["prompt"], [{"content": "x", "role": None}, r["prompt"][1]])),
    ]
    # A valid row without extra_info: its id falls back to "{file stem}-{row}".
    no_extra = verl_row("numina_olympiads", "What is 2+2?", "4", "math", 0)
    no_extra["extra_info"] = None

    rows = []
    bad_iter = iter(bad)
    for i, row in enumerate(good):
        rows.append((row, None))
        if i % 2 == 1:
            nxt = next(bad_iter, None)
            if nxt:
                rows.append(nxt)
    rows.extend(bad_iter)
    rows.insert(3, (no_extra, None))

    table = write_verl_parquet(rows, "heldout_verl")

    # File-level failures: a required column missing, and `prompt` stored as plain text.
    pq.write_table(table.drop_columns(["reward_model"]), os.path.join(OUT, "missing_reward_model.parquet"))
    as_text = table.set_column(1, "prompt", pa.array([json.dumps(r["prompt"]) for r, _ in rows]))
    pq.write_table(as_text, os.path.join(OUT, "prompt_as_text.parquet"), compression="zstd")


def verl_jsonl():
    good = good_rows()[:3] + good_rows()[8:10]
    lines = [json.dumps(r) for r in good]
    expectations = [(r, None) for r in good]
    bad = [
        ("[1, 2, 3]", "(row)"),
        ("{\"data_source\": \"apps\", \"prompt\": [", "(json)"),
        (json.dumps({**good[0], "reward_model": "42"}), "reward_model"),
        (json.dumps({**good[0], "prompt": [{"content": "hi"}]}), "prompt[0].role"),
        (json.dumps({**good[0], "prompt": "just text"}), "prompt"),
        (json.dumps({**good[0], "ability": 3}), "ability"),
        (json.dumps({"data_source": "x", "ability": "math"}), "prompt"),
    ]
    out_lines = []
    out_expect = []
    for i, line in enumerate(lines):
        out_lines.append(line)
        out_expect.append(expectations[i])
        if i < len(bad):
            text, field = bad[i]
            out_lines.append(text)
            out_expect.append(({}, field))
    for text, field in bad[len(lines):]:
        out_lines.append(text)
        out_expect.append(({}, field))
    stem = "heldout_verl"
    with open(os.path.join(OUT, stem + ".jsonl"), "w") as f:
        f.write("\n".join(out_lines) + "\n")
    write_json(stem + ".jsonl.expected.json", expected(out_expect, stem))


def legacy_jsonl():
    rows = []
    for i, (source, question, truth) in enumerate(MATH[:5]):
        rows.append({"id": f"math-{i}", "task": "Math", "source": source,
                     "instruction": question + MATH_SUFFIX, "reference": truth})
    for i, (source, question, truth) in enumerate(CODE[:3]):
        rows.append({"id": 5000 + i, "task": "Coding", "source": source,
                     "instruction": question + CODE_SUFFIX, "reference": json.dumps(truth)})
    bad = [
        ({"id": "b1", "task": "Math", "source": "numina_olympiads", "instruction": "No reference."}, "reference"),
        ({"id": "b2", "task": 7, "source": "numina_olympiads", "instruction": "q", "reference": "1"}, "task"),
        ({"id": "b3", "task": "Math", "source": "numina_olympiads", "instruction": "  ", "reference": "1"}, "instruction"),
        ({"id": "b4", "task": "Math", "instruction": "q", "reference": "1"}, "source"),
        ({"id": ["x"], "task": "Math", "source": "s", "instruction": "q", "reference": "1"}, "id"),
    ]
    ordered = []
    for i, row in enumerate(rows):
        ordered.append((row, None))
        if i < len(bad):
            ordered.append(bad[i])
    stem = "heldout_legacy"
    with open(os.path.join(OUT, stem + ".jsonl"), "w") as f:
        for row, _ in ordered:
            f.write(json.dumps(row) + "\n")
    as_verl = []
    for row, field in ordered:
        if field is not None:
            as_verl.append((row, field))
            continue
        ability = {"Math": "math", "Coding": "code"}[row["task"]]
        as_verl.append(({"id": row["id"], "data_source": row["source"], "ability": ability,
                         "prompt": [{"role": "user", "content": row["instruction"]}],
                         "reward_model": {"ground_truth": row["reference"]}}, None))
    write_json(stem + ".jsonl.expected.json", expected(as_verl, stem))


def bad_ground_truths():
    """Rows whose ground truth no verifier could use (issue 23): code tests that do not parse and
    math answers that are empty. The reader must report each as a bad row naming the ground-truth
    field (the key inside it for code tests), never pass it on to fail during training."""
    def code(truth, index):
        gt = truth if isinstance(truth, str) else json.dumps(truth)
        return verl_row("apps", "Print the sum of two integers.", gt, "code", index)

    def math(truth, index):
        return verl_row("numina_olympiads", "Compute 1 + 1.", truth, "math", index)

    gt = "reward_model.ground_truth"
    bad = [
        (code("{not json", 900), gt),
        (code({"inputs": ["1 2\n"], "outputs": []}, 901), gt + ".outputs"),
        (code({"outputs": ["3\n"]}, 902), gt + ".inputs"),
        (code({"inputs": ["1 2\n"], "outputs": ["3\n"], "fn_name": 3}, 903), gt + ".fn_name"),
        (code({"inputs": [], "outputs": []}, 904), gt + ".inputs"),
        (code({"inputs": "1 2", "outputs": "3"}, 905), gt + ".inputs"),
        (code("[1, 2]", 906), gt + ".inputs"),
        (math("\\boxed{}", 907), gt),
        (math("\\boxed{ }", 908), gt),
    ]
    good = good_rows() + [
        # Valid edge cases: `fn_name` null, inputs as lists of lines, a boxed math answer.
        code({"inputs": [["1", "2"]], "outputs": [["3"]], "fn_name": None}, 910),
        code({"inputs": ["[1, 2]"], "outputs": ["3"], "fn_name": "add"}, 911),
        math("\\boxed{2}", 912),
    ]
    rows = []
    bad_iter = iter(bad)
    for row in good:
        rows.append((row, None))
        nxt = next(bad_iter, None)
        if nxt:
            rows.append(nxt)
    rows.extend(bad_iter)
    write_verl_parquet(rows, "bad_ground_truths")


def write_json(name, value):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    verl_parquet()
    verl_jsonl()
    legacy_jsonl()
    bad_ground_truths()
    print("wrote", sorted(os.listdir(OUT)))
