#!/usr/bin/env bash
# On the GPU machine, after run.sh built the package: Nsight Compute on
# AttnIR's dense kernels (D = 64, 128) and on SDPA's flash and cuDNN kernels,
# for the profile section of docs/benchmarks/gpu.md. Writes ncu_<D>.txt,
# ncu_flash_<D>.txt and ncu_cudnn_<D>.txt into $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
SITE=${ATTNIR_SITE:-/tmp/attnir-site}
OUT=${OUT:-.}
# Tensor pipes: HMMA (mma.sync) and GMMA (wgmma); shared-memory traffic;
# the stall reasons that matter for both kernel families.
METRICS=sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio
for D in 64 128; do
  for which in "dense_d:ncu_$D" "flash_fwd:ncu_flash_$D" "(?i)sdpa|fmha|fprop:ncu_cudnn_$D"; do
    regex=${which%%:*}; file=${which##*:}
    PYTHONPATH=$SITE ncu --launch-skip 1 --launch-count 1 -k "regex:$regex" \
      --section SpeedOfLight --section Occupancy --section LaunchStats \
      --section WarpStateStats --metrics "$METRICS" \
      python3 bench/gpu/profile_one.py dense $D > "$OUT/$file.txt" 2>&1 || true
  done
done
