#!/usr/bin/env bash
# What burn's kernel fusion and autotuning bring on a GPU (issue 22), as one prepared script:
# tools/cuda_step.sh with the default build (`--features cuda`: fusion + autotune) and with the
# bare CUDA backend (`--features cuda-backend`), one after the other on one machine, each run
# twice so the second shows the warm step (step 1 compiles and, with autotune, tunes kernels).
# Build both here and carry them (the device tool carries at most 64 MiB in all, so strip):
#
#   cargo build --release -p prime-trainer --features cuda
#   mkdir -p target/carry && strip -o target/carry/prime-train target/release/prime-train
#   cargo build --release -p prime-trainer --features cuda-backend
#   strip -o target/carry/prime-train-unfused target/release/prime-train
#   # on the GPU machine, from the repository root (carry target/carry):
#   bash tools/cuda_fusion_check.sh target/carry
#
# Usage: tools/cuda_fusion_check.sh [DIR] [--set key=value …] (DIR holds both binaries; the
# settings go to both runs). Prints per binary what cuda_step.sh prints: step times by phase,
# tokens/s and peak device memory.
set -euo pipefail
dir=${1:-target/carry}
shift $(( $# < 1 ? $# : 1 ))
for bin in prime-train prime-train-unfused; do
    [ -x "$dir/$bin" ] || { echo "missing $dir/$bin (see the build steps above)"; exit 1; }
done
for round in 1 2; do
    for bin in prime-train prime-train-unfused; do
        echo "== $bin, run $round"
        bash "$(dirname "$0")/cuda_step.sh" "$dir/$bin" cuda "$@"
    done
done
