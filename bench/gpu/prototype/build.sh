#!/usr/bin/env bash
# Builds the prototype kernels here (no GPU needed): MLIR -> PTX -> cubin.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p cubins
for v in dense causal dense_d128 causal_d128; do
  python3 gen_flash.py ${v%_d128} $([[ $v == *_d128 ]] && echo 128 || echo 64) > cubins/$v.mlir
  mlir-opt-22 cubins/$v.mlir --gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90 cubin-features=+ptx80 opt-level=3 cubin-format=isa" -o cubins/$v.isa.mlir
  python3 extract.py cubins/$v.isa.mlir cubins/$v.ptx
  /usr/local/cuda/bin/ptxas -arch=sm_90 -O3 -v cubins/$v.ptx -o cubins/$v.cubin 2>&1 | grep -E "registers|spill"
done
