// wy(C)'s W and U are the CUDA chunk kernels' workspace: the CPU lowering
// says so instead of leaving them unwritten.
// RUN: not attn-opt %s -attn-lower-linear 2>&1 | FileCheck %s
// CHECK: error: wy(64) is the CUDA kernels' WY form (attn-linear-wy); the CPU lowering does not compute W and U
func.func @wy(%q: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) {
  %o, %w, %u = attn.linear %q, %q, %q delta(%b) wy(64)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
        -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
  return %o, %w, %u : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>
}
