// The selection ops reach no lowering that cannot handle them: attn-tile
// alone (the CPU pipeline runs attn-lower-select before it) refuses them at
// the op, never a crash or a silent pass-through. (The CUDA lowering
// compiles them: test/Conversion/AttnToNVGPU/selection-kernels.mlir.)
// RUN: not attn-opt %s --attn-tile 2>&1 | FileCheck %s --check-prefix=CPU
// CPU: select-lowering.mlir:[[@LINE+3]]:8: error: 'attn.pool' reached attn-tile: run attn-lower-select first

func.func @pool(%x: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %p = attn.pool %x block(64) kind(mean)
        : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  return %p : tensor<?x?x?x64xf32>
}
