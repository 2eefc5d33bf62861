#!/usr/bin/env bash
# A GPU session's measurements in one command (device time is scarce, so nothing waits on a human):
#   1. bench/gpu.py alone on the GPU (epoch times, efficiency vs the bare loop, full compare);
#   2. only with ABLATE=1: the full ablation (3 seeds, exercise sizes), one process per ablation
#      side by side on the one GPU (batches of 32 leave it mostly idle, so the processes hardly
#      slow each other). answers/results/ablation.json already holds a full CPU run of today's
#      recipe (2026-11-30), so by default a lent GPU spends its minutes on gpu.py alone;
# then everything packed into OUT/gpu_results.tgz. Each step has its own time limit, so the
# packing always happens; merge the ablation parts afterwards with
#   python -m bench.merge_ablations DIR/ablate_*/ --out answers/results
# Dry run on a CPU: DEVICE=cpu GPU_BENCH_ARGS=--smoke ABLATE=1 ABLATE_ARGS=--quick bash bench/on_gpu.sh /tmp/o
# usage: bash bench/on_gpu.sh OUT   (env: PYTHON, DEVICE, ABLATE, GPU_BENCH_S/ABLATE_S time limits, GPU_BENCH_ARGS, ABLATE_ARGS)
set -u
out=${1:?usage: bash bench/on_gpu.sh OUT}
mkdir -p "$out"
work=$(mktemp -d)
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} MPLBACKEND=Agg CARCOURSE_PROGRESS=text
{ date -u; nvidia-smi -L 2>&1; $py -m carcourse doctor 2>&1; } > "$work/doctor.txt"
echo "doctor done $(date -u +%T)"
CARCOURSE_QUICK=${CARCOURSE_QUICK:-0} timeout "${GPU_BENCH_S:-240}" $py bench/gpu.py ${DEVICE:+--device $DEVICE} ${GPU_BENCH_ARGS:-} \
    > "$work/gpu.txt" 2>&1
echo "gpu.py rc $? $(date -u +%T)" | tee -a "$work/gpu.txt"
if [ "${ABLATE:-0}" = 1 ]; then
    for a in width stem budget optimizer pretrained; do
        OMP_NUM_THREADS=2 timeout "${ABLATE_S:-480}" $py -m carcourse ablate --only $a ${DEVICE:+--device $DEVICE} \
            ${ABLATE_ARGS:-} --out "$work/ablate_$a" > "$work/ablate_$a.log" 2>&1 &
    done
    wait
    echo "ablations done $(date -u +%T)"
    tail -n 3 "$work"/ablate_*.log
fi
tar czf "$out/gpu_results.tgz" -C "$work" .
ls -la "$out"
