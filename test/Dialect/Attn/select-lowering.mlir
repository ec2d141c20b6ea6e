// The selection ops reach no lowering that cannot handle them: attn-tile
// alone (the CPU pipeline runs attn-lower-select before it) refuses them at
// the op; the CUDA lowering compiles them only before an attention (a
// program), never a crash or a silent pass-through.
// RUN: not attn-opt %s --attn-tile 2>&1 | FileCheck %s --check-prefix=CPU
// RUN: not attn-opt %s --attn-to-nvgpu 2>&1 | FileCheck %s --check-prefix=CUDA
// CPU: select-lowering.mlir:[[@LINE+4]]:8: error: 'attn.pool' reached attn-tile: run attn-lower-select first
// CUDA: select-lowering.mlir:[[@LINE+2]]:1: error: the CUDA target compiles entries with exactly one attn.attention

func.func @pool(%x: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %p = attn.pool %x block(64) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  return %p : tensor<?x?x?x64xf32>
}
