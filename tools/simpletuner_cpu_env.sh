#!/usr/bin/env bash
# A throwaway CPU environment with the pinned SimpleTuner, for running its own config loader
# (src/ascii_lora/train/simpletuner/accept.py) and tools/simpletuner_facts.py on a machine
# without CUDA. Never for training: `make setup-train TRAINER=simpletuner` builds the real one.
#
#   bash tools/simpletuner_cpu_env.sh /tmp/simpletuner-cpu
#
# Why it differs from constraints/simpletuner.txt: no CUDA wheel may be downloaded here, so
# torch 2.13.0 (a local CPU wheel on these machines) stands in for the pinned torch 2.11.0, with
# the torchvision release built for it. The registry's torchvision and torchaudio wheels are CUDA
# builds whose C++ libraries cannot load beside a CPU torch, so two stand-ins make them importable:
# torchvision's two C++ op schemas are declared before it registers fake kernels for them, and
# torchaudio's libraries are moved aside (it then runs without its C++ extension). SimpleTuner
# imports both at start-up for its model registry; its config loader never calls them.
set -euo pipefail
ENV=${1:-/tmp/simpletuner-cpu}
HERE=$(cd "$(dirname "$0")/.." && pwd)
python3.11 -m venv "$ENV"
"$ENV/bin/pip" install --quiet torch==2.13.0
CONSTRAINTS=$(mktemp)
grep -vE '^torch(vision|audio)?==' "$HERE/constraints/simpletuner.txt" > "$CONSTRAINTS"
printf 'torch==2.13.0\ntorchvision==0.28.0\n' >> "$CONSTRAINTS"
"$ENV/bin/pip" install --quiet -c "$CONSTRAINTS" simpletuner==3.1.6 diffusers bitsandbytes torchao
rm -f "$CONSTRAINTS"
SITE=$("$ENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat > "$SITE/torchvision_cpu_standin.py" <<'EOF'
# Stand-in (throwaway CPU environment only): declare the two ops torchvision registers fake kernels for.
import torch

_lib = torch.library.Library("torchvision", "DEF")
_lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
EOF
echo "import torchvision_cpu_standin" > "$SITE/zz_torchvision_cpu_standin.pth"
for so in "$SITE"/torchaudio/lib/*.so; do mv "$so" "$so.cuda-only"; done
"$ENV/bin/pip" list 2>/dev/null | grep -iE '^(simpletuner|diffusers|transformers|torchao|torch|torchvision|torchaudio|bitsandbytes|peft|accelerate) '
echo "ready: $ENV/bin/python src/ascii_lora/train/simpletuner/accept.py RUN_DIR"
