//===- AttnTileOps.td - tile-level ops of the lowering -------*- tablegen -*-===//
//
// Ops that exist between tiling and target code generation. They work on
// buffers and name one step of a tiled algorithm, so that tiling (which
// decides the loops and which blocks are visited) and the target's tile body
// (vector FMAs on the CPU, tensor cores on the GPU) are separate passes.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNTILEOPS_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNTILEOPS_TD

include "attnir/Dialect/Attn/IR/AttnDialect.td"
include "attnir/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_KVBlockUpdateOp : Attn_Op<"kv_block_update", [
    AllTypesMatch<["m_in", "l_in", "m_out", "l_out"]>,
    AttrSizedOperandSegments, IsolatedFromAbove]> {
  let summary = "one online-softmax step: a query tile against a key block";
  let description = [{
    For the query rows `i0 + r` (r < rows of `acc`) of one query tile and
    the keys `j0 .. j0 + BK` (BK = columns of `scores`) of batch `b`, KV
    head `hkv`:

    - s = qT[r, :] . kT[b, hkv, j / BK, :, j % BK], in f32 (`qT` is the query tile packed
      row-major as [rows, D], already multiplied by the scale);
    - when `masked` is true, s = -inf where the mask's element rule or
      j < m fails (`masked` is false for blocks the block rule proved full);
    - m' = max(m, max_j s); p = exp(s - m'); l' = l * exp(m - m') + sum_j p;
      acc = acc * exp(m - m') + p v[b, hkv, j0 .. j0 + BK, :].

    `kT` is K packed block-major as [B, Hkv, Mpad / BK, D, BK] (one key
    block's K^T is contiguous) and `v` V packed as
    [B, Hkv, Mpad, Dvpad], both f32 and zero-padded, so every read is in
    bounds. `scores` is scratch space of [rows, BK]. The running max `m` and
    sum `l` of each row are the vector operands and results. `q_doc` and
    `k_doc` ([B, N], [B, M]) are the document ids masks may read.

    In place (`kT` of rank 4, decoding: attn-tile uses it when a head's
    queries fit one short tile, so packing K and V would cost more than the
    attention): `kT` is K itself, [B, Hkv, M, D], and `v` V itself,
    [B, Hkv, M, Dv = Dvpad], in the input element type; keys at m and past
    are never read.

    `keys` (a gathered block, i64 [Kpad]): the tile's keys were gathered
    from a token-level block list, so key slot j0 + c holds the key at
    position keys[j0 + c] (M for padding, only after every real slot).
    Packed, `kT` and `v` hold this tile's gathered keys only ([1, 1, ...];
    `b` and `hkv` address the document ids alone); in place they are K and
    V and slot j0 + c reads row keys[j0 + c] of (b, hkv), padding slots
    never. The element rule reads the positions from `keys` (`masked` must
    be true).

    bf16 pairs (`qT` of i32: attn-tile's `bf16-dot` on bf16 inputs): each
    i32 holds two bf16 along the reduction, the lower index in the low
    half, for AVX512-BF16's pairwise dot product: `qT` [ceil(D / 2), rows]
    (Q[r, 2e], Q[r, 2e + 1]), unscaled; `kT` [B, Hkv, Mpad / BK,
    ceil(D / 2), BK] (K[j, 2e], K[j, 2e + 1]); `v` [B, Hkv, Mpad / 2,
    Dvpad] (V[2j, c], V[2j + 1, c]); zero padded. `scale` then multiplies
    s (rounding a scaled query to bf16 would add error), and P is rounded
    to bf16 for acc += P V (the row sums stay f32).

    `amx` (bf16 pairs on Intel's AMX tiles, attn-tile's `bf16-dot=2`):
    `qT` holds the tile row-major, [rows, D / 2] pairs (an AMX A tile's
    rows), rows a multiple of 16, D of 32; kT and v as for pairs (they are
    AMX's VNNI B tiles as they are). There is no score rule, and `scale` is
    positive and applied to the products' sums in the softmax.

    `split` (f32 inputs on AMX tiles, attn-tile's `f32-amx`; needs `amx`):
    every f32 x is the sum of three bf16 pieces x = x0 + x1 + x2 (x0 the
    rounding of x, x1 of x - x0, x2 of x - x0 - x1: 24 bits of x), and
    each product a b is taken as the six largest of the pieces' nine,
    a0 b0 + a0 b1 + a1 b0 + a0 b2 + a1 b1 + a2 b0 (the three left are below
    f32's rounding). `qT`, `kT` and `v` hold the pieces one after another
    along the pair dimension: qT [rows, 3 D / 2] (piece p from column
    p D / 2), kT [.., 3 D / 2, BK], v [.., Mpad / 2, 3 Dvpad]. `scores` is
    [rows, 2 BK]: the scores in the first BK columns, P's three bf16
    pieces over the first 3 BK / 2 (written after the row is read).

    `next_j0` (optional): the first key of the block the tile's schedule
    visits after this one (this block's own on its last step). A target
    may prefetch that block's packed K^T panel while it works on this one
    (attn-vectorize-cpu's `prefetch`); it never changes the result.

    `mask_rule` and `score_rule` are the attention op's rule regions (their
    tensor arguments read the memrefs `rules(...)` in the same order); `h`
    is the query head they see. The score rule runs on every pair of the
    block before the mask; the mask rule is the `#attn.rule` of `mask`.
  }];
  let arguments = (ins
      MemRefRankOf<[F32, I32], [2]>:$qT,
      AnyTypeOf<[MemRefRankOf<[F32, I32], [5]>,
                 MemRefRankOf<[F32, BF16, F16], [4]>]>:$kT,
      MemRefRankOf<[F32, BF16, F16, I32], [4]>:$v,
      MemRefRankOf<[F32], [2]>:$acc, MemRefRankOf<[F32], [2]>:$scores,
      Index:$b, Index:$hkv, Index:$i0, Index:$j0,
      Index:$n, Index:$m, I1:$masked,
      VectorOfRankAndType<[1], [F32]>:$m_in,
      VectorOfRankAndType<[1], [F32]>:$l_in,
      Optional<MemRefRankOf<[I32, I64], [2]>>:$q_doc,
      Optional<MemRefRankOf<[I32, I64], [2]>>:$k_doc,
      Optional<MemRefRankOf<[I64], [1]>>:$keys,
      Optional<Index>:$h,
      Optional<Index>:$next_j0,
      Variadic<AnyMemRef>:$rule_operands,
      OptionalAttr<Attn_MaskAttrInterface>:$mask,
      OptionalAttr<F32Attr>:$scale,
      UnitAttr:$amx, UnitAttr:$split);
  let results = (outs VectorOfRankAndType<[1], [F32]>:$m_out,
                      VectorOfRankAndType<[1], [F32]>:$l_out);
  let regions = (region AnyRegion:$mask_rule, AnyRegion:$score_rule);
  let assemblyFormat = [{
    $qT `,` $kT `,` $v `,` $acc `,` $scores
    `at` `[` $b `,` $hkv `,` $i0 `,` $j0 `]`
    `lengths` `(` $n `,` $m `)` `masked` `(` $masked `)`
    `state` `(` $m_in `,` $l_in `)`
    (`next` `(` $next_j0^ `)`)?
    (`segments` `(` $q_doc^ `,` $k_doc `:` type($q_doc) `,` type($k_doc) `)`)?
    (`keys` `(` $keys^ `:` type($keys) `)`)?
    (`head` `(` $h^ `)`)?
    (`rules` `(` $rule_operands^ `:` type($rule_operands) `)`)?
    (`mask` `(` $mask^ `)`)?
    (`mask_rule` $mask_rule^)? (`score_rule` $score_rule^)? attr-dict `:`
    type($qT) `,` type($kT) `,` type($v) `,` type($acc) `,` type($scores)
    `,` type($m_in)
  }];
  let hasVerifier = 1;
}

def Attn_CpuThreadsOp : Attn_Op<"cpu_threads", [Pure]> {
  let summary = "the threads that run this call's parallel loops on the CPU";
  let description = [{
    The number of threads the CPU runtime runs the kernel's parallel loops
    on in this call (`attnc --threads`, Python's `threads=`; every core by
    default). attn-tile reads it to choose between task shapes (a task per
    KV head only when the heads divide evenly among the threads);
    attn-prepare-abi lowers it to a call of OpenMP's
    `omp_get_max_threads()`, which the runtime sets before each call.
  }];
  let results = (outs Index:$threads);
  let assemblyFormat = "attr-dict";
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNTILEOPS_TD
