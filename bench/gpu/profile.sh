#!/usr/bin/env bash
# On the GPU machine, after run.sh built the package: Nsight Compute on
# AttnIR's dense kernels (D = 64, 128) and SDPA's flash kernel, for the
# profile section of docs/benchmarks/gpu.md. Writes ncu_<D>.txt into $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
SITE=${ATTNIR_SITE:-/tmp/attnir-site}
OUT=${OUT:-.}
for D in 64 128; do
  PYTHONPATH=$SITE ncu --launch-skip 1 --launch-count 1 -k regex:'dense_d|flash_fwd' \
    --section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
    --section Occupancy --section LaunchStats --section WarpStateStats \
    --section InstructionStats --metrics sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,smsp__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio \
    python3 bench/gpu/profile_one.py dense $D > "$OUT/ncu_$D.txt" 2>&1 || true
  PYTHONPATH=$SITE ncu --launch-skip 1 --launch-count 1 -k regex:'flash_fwd' \
    --section SpeedOfLight --section Occupancy --section LaunchStats \
    --metrics sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum \
    python3 bench/gpu/profile_one.py dense $D > "$OUT/ncu_flash_$D.txt" 2>&1 || true
done
