#!/usr/bin/env bash
# One prepared check of the GPU path (issue 40), for one GPU (an H100) in one 10-minute run. Steps,
# each under its own time limit (they add up to 9.5 minutes), each reported PASS or FAIL; the exit
# status is the number of failed steps:
#   1. the suite's CUDA-marked tests (tests/test_cuda.py: NCCL joined by torchrun at one process,
#      bf16 where the card computes it, answer models' memory given back)
#   2. the default suite, small, on the GPU: `pytest --ftb-device=cuda` (training and answering)
#   3. the same through torchrun at one process (it joins the NCCL group), with NCCL's rule checked
#      on every collective (FTB_NCCL_RULE=1)
#   4. bench/bench_gpu.py: tokens/s and MFU against the card's spec peak and a measured matmul
#
#   bash bench/gpu_check.sh            # on the GPU machine, from the repository root or anywhere
#   bash bench/gpu_check.sh --dry-run  # anywhere (CI, in `make bench-quick`): prints each step's
#                                      # command and checks what a CPU can: the CUDA tests collect,
#                                      # the options parse, torchrun starts
# PY names the Python (default: .venv/bin/python, else python3). Record what it prints in
# BENCHMARKS.md with the card named.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

step() {  # step NAME SECONDS COMMAND...: run it (dry run: print it), under its time limit
  local name=$1 limit=$2
  shift 2
  echo "== $name (at most ${limit} s): $*"
  if [ "$DRY" = 1 ]; then return 0; fi
  if timeout "$limit" "$@"; then echo "PASS $name"; else echo "FAIL $name (exit $?)"; failed=$((failed + 1)); fi
}

small=(--ftb-suite=default --ftb-limit=2 --ftb-store="$tmp/store" -p no:xdist -p no:randomly -q --tb=line)
torchrun_one="$PY -m torch.distributed.run --standalone --nproc-per-node=1 {train}"

if [ "$DRY" = 0 ]; then
  "$PY" -c "import torch; d = torch.device('cuda'); print('GPU:', torch.cuda.get_device_name(d), \
'capability', torch.cuda.get_device_capability(d), '| torch', torch.__version__, '| CUDA', torch.version.cuda)" \
    || { echo "FAIL no CUDA GPU here (try --dry-run)"; exit 1; }
fi
step "cuda-marked tests" 150 "$PY" -m pytest tests -m cuda -p no:randomly -p no:xdist -q -rs
step "default suite on the GPU" 150 "$PY" -m pytest "${small[@]}" --ftb-device=cuda --ftb-report="$tmp/gpu.json"
step "torchrun at one process, NCCL's rule" 120 env FTB_NCCL_RULE=1 "$PY" -m pytest "${small[@]}" \
  --ftb-device=cuda --ftb-launcher="$torchrun_one" --ftb-report="$tmp/torchrun.json"
step "bench_gpu.py" 150 "$PY" bench/bench_gpu.py
if [ "$DRY" = 0 ]; then
  for report in "$tmp/gpu.json" "$tmp/torchrun.json"; do  # what the answers were generated in, as recorded
    [ -f "$report" ] && "$PY" -c "import json, sys; r = json.load(open(sys.argv[1])); \
print(sys.argv[1].rsplit('/', 1)[-1], 'precision:', r.get('precision'), '| generated in:', r.get('generated_in'))" "$report"
  done
  [ -f "$tmp/store/local/trainings.jsonl" ] && cat "$tmp/store/local/trainings.jsonl"
  echo "gpu_check: $failed step(s) failed"
  exit "$failed"
fi

# --dry-run: what a CPU can check of the steps above
set -e
"$PY" -m pytest tests -m cuda --collect-only -q -p no:randomly | tail -1
"$PY" -m pytest "${small[@]}" --ftb-device=cpu --collect-only | tail -1
"$PY" -m torch.distributed.run --help > /dev/null
"$PY" -c "import sys; sys.path.insert(0, 'bench'); import bench_gpu; assert bench_gpu.spec_peak('NVIDIA H100 80GB HBM3') == 989.4e12"
echo "gpu_check --dry-run: the steps' commands print, the CUDA tests collect, the options parse, torchrun starts"
