//===- attn-opt.cpp - opt-style driver for attn and upstream MLIR ---------===//
//
// Every upstream dialect and pass plus ours, including --attn-pipeline-cpu.
//
//===----------------------------------------------------------------------===//

#include "attnir/Pipelines/Pipelines.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::attn::registerAttnPassesAndPipelines();
  mlir::DialectRegistry registry;
  mlir::attn::registerAllAttnDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "AttnIR optimizer driver\n", registry));
}
