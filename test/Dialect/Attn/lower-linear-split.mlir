// split(C)'s chunk states are the CUDA kernels' workspace: the CPU lowering
// says so instead of leaving them unwritten.
// RUN: not attn-opt %s -attn-lower-linear 2>&1 | FileCheck %s
// CHECK: error: split(64) is the CUDA kernels' two-pass form (attn-linear-split); the CPU lowering does not write chunk states
func.func @split(%q: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64x64xbf16>) {
  %o, %h = attn.linear %q, %q, %q split(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
        -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64x64xbf16>)
  return %o, %h : tensor<?x?x?x64xbf16>, tensor<?x?x?x64x64xbf16>
}
