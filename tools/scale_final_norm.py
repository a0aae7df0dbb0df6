"""Copy a Qwen2 checkpoint with its final RMSNorm weight scaled: a temperature change in weights.

With tied or untied output embeddings, logits = lm_head(norm(h)) are linear in the final norm's
weight, so scaling `model.norm.weight` by s gives the same model at temperature 1/s. Used in
issue 7 to build a fixed, label-free implicit reward for comparison: PRM = the SFT policy,
reference = this copy at s = 0.8 (temperature 1.25), so q_t = log π(y_t) − log π_T=1.25(y_t) is
positive on confident tokens and negative on unlikely ones.

    python3 tools/scale_final_norm.py SRC_DIR DST_DIR SCALE

Needs safetensors and torch (not used by CI).
"""
import shutil
import sys

from safetensors.torch import load_file, save_file


def main():
    src, dst, scale = sys.argv[1], sys.argv[2], float(sys.argv[3])
    shutil.copytree(src, dst)
    tensors = load_file(f"{dst}/model.safetensors")
    tensors["model.norm.weight"] = tensors["model.norm.weight"] * scale
    save_file(tensors, f"{dst}/model.safetensors", metadata={"format": "pt"})
    print(f"{dst}: model.norm.weight × {scale}")


if __name__ == "__main__":
    main()
