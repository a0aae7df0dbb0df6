#!/usr/bin/env bash
# The CUDA checks as one prepared script: two PRIME steps of $CONFIG (default
# configs/cuda-0.5b-step.toml, issue 7; configs/cuda-7b-lora-step.toml is issue 19's 7B LoRA
# check), then step time and tokens/s per phase from metrics.jsonl and the device's peak memory
# (nvidia-smi, sampled every 200 ms). The GPU machine needs no Rust: build
# the binary here and carry it (the device tool carries at most 64 MiB, so strip it):
#
#   cargo build --release -p prime-trainer --features cuda
#   mkdir -p target/carry && strip -o target/carry/prime-train target/release/prime-train
#   # on the GPU machine, from the repository root (carry target/carry):
#   bash tools/cuda_step.sh target/carry/prime-train
#
# Usage: tools/cuda_step.sh [BINARY] [cuda|cpu] [--set key=value …]. Writes the run under $OUT
# (or /tmp). Results on an H100: docs/performance.md, "GPU: one PRIME step at Qwen2.5-0.5B shapes".
set -euo pipefail
bin=${1:-target/release/prime-train}
backend=${2:-cuda}
shift $(( $# < 2 ? $# : 2 ))
config=${CONFIG:-configs/cuda-0.5b-step.toml}
run_dir=${OUT:-/tmp}/cuda-step-$backend
rm -rf "$run_dir"
if [ "$backend" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    # burn-cuda compiles its kernels with NVRTC, loaded at run time (libnvrtc.so.13 for the
    # CUDA 13 toolkit): add the toolkit's library folder when the loader does not know it.
    if ! ldconfig -p 2>/dev/null | grep -q 'libnvrtc\.so'; then
        nvrtc=$(find /usr/local/cuda*/ -name 'libnvrtc.so.*' 2>/dev/null | head -n 1 || true)
        if [ -n "$nvrtc" ]; then
            export LD_LIBRARY_PATH="$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        fi
    fi
fi
start=$(date +%s)
sampler=
if [ "$backend" = cuda ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 \
        > "$run_dir.memory" 2>/dev/null &
    sampler=$!
fi
status=0
"$bin" train --config "$config" --backend "$backend" --run-dir "$run_dir" \
    "$@" > "$run_dir.log" 2>&1 || status=$?
if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null || true
    echo "peak device memory: $(sort -n "$run_dir.memory" | tail -n 1) MiB (nvidia-smi)"
fi
[ "$status" = 0 ] || { tail -n 40 "$run_dir.log"; exit 1; }
echo "wall seconds (load, init, steps, eval, export): $(( $(date +%s) - start ))"
python3 - "$run_dir/metrics.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    print(
        f"step {m['step']}: {m['time_step']:.2f} s (rollout {m['time_rollout']:.2f}, "
        f"old log-probs {m['time_old_log_probs']:.2f}, PRM {m['time_prm']:.2f}, "
        f"policy {m['time_policy']:.2f}); sampling {m['sampling_tokens_per_s']:.0f} tokens/s, "
        f"training {m['training_tokens_per_s']:.0f} tokens/s; response length "
        f"{m['response_length']:.1f}; skipped {m['skipped']}"
    )
PY
tail -n 1 "$run_dir.log"
