//===- AttnRecurrentOps.td - merge (and later linear, scan) --*- tablegen -*-===//
//
// The recurrent family (shared/patterns.md A8-A10). attn.linear is causal
// linear attention with decays (lowered in chunks: attn-lower-linear).
// attn.merge combines
// partial attentions exactly from their (out, lse) pairs: split-KV,
// hybrids of softmax branches, later context parallelism. The float64
// reference evaluates it (lib/Reference/MergeReference.cpp); attn-lower-merge
// lowers it for the CPU, lib/Conversion/AttnToNVGPU/MergeKernel.cpp for CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNRECURRENTOPS_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNRECURRENTOPS_TD

include "attnir/Dialect/Attn/IR/AttnDialect.td"
include "attnir/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_MergeOp : Attn_Op<"merge", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "exact merge of partial attentions by their lse";
  let description = [{
    The operands are pairs (out_r [B, H, N, Dv], lse_r [B, H, N] f32), the
    results of attentions over disjoint sets of keys for the same queries;
    the result is the attention over their union (shared/patterns.md A10):
    `lse = log sum_r e^{lse_r}`, `out = sum_r e^{lse_r - lse} out_r`. A row
    whose parts all have lse -inf (no key kept anywhere) gives zeros and
    -inf, never NaN. Arithmetic in f32; `out` has the element type it
    declares. Split-KV: attention over the first and the second half of
    the keys (`#attn.key_part<0, 2>`, `#attn.key_part<1, 2>`), merged.

    `unnormalized(%num, %den, ...)`: terms in unnormalised space (a
    numerator [B, H, N, Dv] and its denominator [B, H, N] or [B, H, N, 1],
    den >= 0 the caller's promise) join the sum: out = (sum_r e^{lse_r}
    out_r + sum_u num_u) / (sum_r e^{lse_r} + sum_u den_u), lse = log of
    that denominator; a term is the pair (num / den, log den) (0 and -inf
    where den = 0). NTK-Attention's infinite prefix phi(q)^T Z over
    phi(q)^T k_z (examples/ntk_prefix.mlir).

    ```mlir
    %o, %lse = attn.merge %o1, %lse1, %o2, %lse2
        : (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>, tensor<?x?x?x64xf32>,
           tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
    ```
  }];
  let arguments = (ins Variadic<Attn_FloatTensor>:$parts,
                       Variadic<Attn_FloatTensor>:$terms);
  let results = (outs Attn_FloatTensor:$out, RankedTensorOf<[F32]>:$lse);
  let assemblyFormat = [{
    $parts (`unnormalized` `(` $terms^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The number of (out, lse) pairs.
    unsigned getNumPairs() { return getParts().size() / 2; }
    ::mlir::Value getPartOut(unsigned r) { return getParts()[2 * r]; }
    ::mlir::Value getPartLse(unsigned r) { return getParts()[2 * r + 1]; }
    /// The number of (num, den) terms.
    unsigned getNumTerms() { return getTerms().size() / 2; }
    ::mlir::Value getTermNum(unsigned u) { return getTerms()[2 * u]; }
    ::mlir::Value getTermDen(unsigned u) { return getTerms()[2 * u + 1]; }
  }];
}

def Attn_LinearOp : Attn_Op<"linear", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "causal linear attention as a decayed recurrence";
  let description = [{
    Per (b, h), with state S_t [D, Dv] (S_{-1} = the initial state or 0):
    `S_t = gamma_t S_{t-1} + phi(k_t) v_t^T`, `out_t = scale phi(q_t)^T S_t`
    (shared/patterns.md A8). `gamma_t` is the product of what is given
    (1 without any): `decay(%lambda)` a per-head decay lambda [H]
    (Lightning Attention, RetNet), `gate(%g)` a per-token gate g [B, H, N]
    in [0, 1], `log_gate(%g)` a per-token log gate g [B, H, N] <= 0
    (gamma = e^g: flash-linear-attention's convention), or [B, H, N, D], a
    log gate per key feature (GLA: S_t = diag(e^{g_t}) S_{t-1} + ..., fla's
    chunk_gla; row d of the state and z decay by e^{g_td}).
    `feature_map(phi)`: identity (the default), elu1, relu or exp, applied
    to q and k. `normalize`: out_t is divided by phi(q_t)^T z_t, z_t =
    gamma_t z_{t-1} + phi(k_t) (0 where that is 0). q, k [B, H, N, D], v
    [B, H, N, Dv] (H query heads = key heads; the sequence is the
    queries'), result [B, H, N, Dv]; f32 state whatever the input type.
    Decays and gates are the caller's promise to lie in [0, 1].

    `delta(%beta)` (beta [B, H, N] in (0, 1)): the gated delta rule
    (DeltaNet, Gated DeltaNet; fla's chunk_gated_delta_rule with S stored
    [D, Dv], its [K, V]): `S_t = gamma_t (I - beta_t k_t k_t^T) S_{t-1} +
    beta_t k_t v_t^T`, i.e. the update above with v_t replaced by
    `beta_t (v_t - gamma_t S_{t-1}^T k_t)`; not with `normalize`. The rule
    is stable for |k_t| <= 1: `l2norm` divides phi(q_t) and phi(k_t) by
    sqrt(|phi(x_t)|^2 + 1e-6) (fla's use_qk_l2norm_in_kernel).

    `momentum(%alpha, %theta, %eta)` (each [B, H, N]): Titans' linear
    memory, the delta rule with momentum and forgetting (shared/patterns.md
    A8): `U_t = eta_t U_{t-1} - theta_t k_t (k_t^T S_{t-1} - v_t^T)`,
    `S_t = (1 - alpha_t) S_{t-1} + U_t`, out_t = scale phi(q_t)^T S_t;
    U_{-1} = 0. Alone (no decays, gates, delta, normalize, state: the
    momentum U is not carried); token by token on both targets.

    `wy(C)` (made by the CUDA pipeline's attn-linear-wy for the chunked
    kernel; not on the CPU): two more results, the gated delta rule's WY
    form per chunk of C tokens, W = T diag(beta Gamma) K [B, H, N, D] and
    U = T diag(beta) V [B, H, N, Dv] with T = (I + A)^{-1}, A_ts = beta_t
    (Gamma_t / Gamma_s) k_t . k_s (s < t in the chunk), Gamma_t the chunk's
    cumulative gate and k the keys after phi and l2norm: the chunk's
    corrected values are then U - W S for the state S at its start. Both
    are computed for all chunks in parallel (fla's recompute_w_u), then the
    sequential kernel passes the state.

    `split(C)` (made by the CUDA pipeline's attn-linear-split for the
    chunked kernel; not on the CPU): more results, the state at the start
    of each chunk of C tokens [B, H, ceil(N / C), D, Dv] (q's element
    type, rounded as the chunk kernels keep it: fla's h) and, with wy(C),
    the corrected values U - W S [B, H, N, Dv] (v's type; fla's v_new),
    or with `normalize` the normaliser z at each chunk's start [B, H,
    ceil(N / C), D] f32. A state pass walks the chunks and writes them; an
    output pass, a block per (b, h, chunk), computes the outputs from them
    in parallel.

    `state(%s0)` (s0 [B, H, D, Dv] f32) starts from S_{-1} = s0, and a
    second result [B, H, D, Dv] f32 returns S_{N-1}: chunked prefill,
    streaming and context parallelism pass the state along (not with
    `normalize`, whose z is not carried). With `normalize` the second
    result is instead the branch's lse [B, H, N] f32: log phi(q_t)^T z_t
    (-inf where that is 0), so that attn.merge joins the linear branch
    with softmax branches in unnormalised space (the scale multiplies the
    numerator only; examples/hybrid_window_linear.mlir).

    The CPU lowering (attn-lower-linear) is chunked: within a chunk of C
    tokens (a pass option, `linear-chunk`) the masked, decayed products,
    across chunks the state; equal to the token recurrence up to rounding
    for any C. The delta rule, GLA's per-feature gates and Titans walk
    tokens on vectors along Dv (on a core the chunked forms cost as many
    or more FMAs per token and gain no parallelism: docs/design/recurrent.md).
    On CUDA, f16/bf16 inputs with D = 64 or 128 and decays,
    scalar gates, GLA's per-feature log gates (not with `gate`), the
    (gated) delta rule, l2norm or none (any feature map, state in and
    out) run in 64-token chunks on tensor cores (LinearChunkKernel.cpp,
    LinearChunkGates.cpp, LinearChunkWY.cpp: mma.sync products, the
    state slice of a block in f32 accumulators, the delta rule in its WY
    form (`wy(64)`, below; `--cuda-options linear-wy=0` solves each chunk
    inside the sequential kernel instead, LinearChunkDelta.cpp); without
    per-feature gates 64 or 32 value columns per block, the runtime
    picking by the grid, or `--cuda-options linear-columns=32|64`); with
    `normalize` z rides beside the state (in the fused kernel; with split
    as a per-chunk result; decayed per feature with GLA's gates:
    LinearChunkNormalize.cpp); every other variant (Titans, f32; static D
    <= 256, Dv <= 1024) runs a thread per (b, h, value column) with its
    state column in registers, token by token (LinearKernel.cpp), as does
    `linear-chunk=0`.

    ```mlir
    %o = attn.linear %q, %k, %v decay(%lambda)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?xf32>) -> tensor<?x?x?x64xf32>
    %o2, %s = attn.linear %q, %k, %v log_gate(%g) delta(%beta) state(%s0)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x64x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x64x64xf32>)
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$q, Attn_FloatTensor:$k,
                       Attn_FloatTensor:$v,
                       Optional<Attn_FloatTensor>:$decay,
                       Optional<Attn_FloatTensor>:$gate,
                       Optional<Attn_FloatTensor>:$log_gate,
                       Optional<Attn_FloatTensor>:$beta,
                       Optional<Attn_FloatTensor>:$forget,
                       Optional<Attn_FloatTensor>:$step,
                       Optional<Attn_FloatTensor>:$momentum,
                       Optional<RankedTensorOf<[F32]>>:$initial_state,
                       OptionalAttr<Attn_FeatureMap>:$feature_map,
                       UnitAttr:$normalize,
                       UnitAttr:$l2norm,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<I64Attr>:$wy,
                       OptionalAttr<I64Attr>:$split);
  // out, then the final state or the lse (optional), then with wy(C) W and
  // U, then with split(C) the chunk states (and with wy the corrected
  // values): one variadic group (the format takes every result type from
  // one functional type; the accessors below name them).
  let results = (outs Attn_FloatTensor:$out,
                      Variadic<AnyRankedTensor>:$extras);
  let assemblyFormat = [{
    $q `,` $k `,` $v (`decay` `(` $decay^ `)`)? (`gate` `(` $gate^ `)`)?
    (`log_gate` `(` $log_gate^ `)`)? (`delta` `(` $beta^ `)`)?
    (`momentum` `(` $forget^ `,` $step `,` $momentum `)`)?
    (`state` `(` $initial_state^ `)`)?
    (`feature_map` `(` $feature_map^ `)`)? (`l2norm` $l2norm^)?
    (`normalize` $normalize^)?
    (`scale` `(` $scale^ `)`)? (`wy` `(` $wy^ `)`)?
    (`split` `(` $split^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale of the output: the attribute, or 1.
    double getScaleValue() {
      return getScale() ? getScale()->convertToDouble() : 1.0;
    }
    /// Results after the final state: wy's W and U, split's chunk states
    /// (and corrected values with wy).
    unsigned getNumWyResults() { return getWy() ? 2 : 0; }
    unsigned getNumSplitResults() {
      return getSplit() ? (getWy() || getNormalize() ? 2 : 1) : 0;
    }
    /// The second result (the final state, or the lse with normalize), or
    /// null.
    ::mlir::Value getFinalState() {
      auto e = getExtras();
      return e.size() == getNumWyResults() + getNumSplitResults() + 1 ? e[0] : ::mlir::Value();
    }
    /// wy(C): the delta rule's W [B, H, N, D] and U [B, H, N, Dv] per chunk
    /// of C tokens (the CUDA kernels' workspace), or null.
    ::mlir::Value getWyW() { return tailResult(getNumSplitResults() + 2, getWy().has_value()); }
    ::mlir::Value getWyU() { return tailResult(getNumSplitResults() + 1, getWy().has_value()); }
    /// split(C): the state at the start of each chunk of C tokens [B, H,
    /// ceil(N / C), D, Dv] (q's type), or null.
    ::mlir::Value getChunkStates() {
      return tailResult(getNumSplitResults(), getSplit().has_value());
    }
    /// split(C) with wy(C): the corrected values U - W S [B, H, N, Dv], or
    /// null.
    ::mlir::Value getCorrectedValues() {
      return tailResult(1, getSplit() && getWy());
    }
    /// split(C) with normalize: the normaliser z at the start of each chunk
    /// [B, H, ceil(N / C), D] f32, or null.
    ::mlir::Value getChunkNormalizers() {
      return tailResult(1, getSplit() && getNormalize());
    }
    /// Result `back` from the end of the extras when `present`, else null.
    ::mlir::Value tailResult(unsigned back, bool present) {
      auto e = getExtras();
      return present && e.size() >= back ? e[e.size() - back] : ::mlir::Value();
    }
    /// The second result when it is the lse (with normalize), else null.
    ::mlir::Value getLseResult() {
      return getNormalize() ? getFinalState() : ::mlir::Value();
    }
    /// The second result when it is the final state, else null.
    ::mlir::Value getStateResult() {
      return getNormalize() ? ::mlir::Value() : getFinalState();
    }
    /// Whether log_gate is [B, H, N, D]: a gate per key feature (GLA).
    bool isPerFeatureGate() {
      return getLogGate() &&
             ::llvm::cast<::mlir::RankedTensorType>(getLogGate().getType()).getRank() == 4;
    }
  }];
}

def Attn_ScanOp : Attn_Op<"scan", [Pure,
    DeclareOpInterfaceMethods<Attn_ShapeRelationsOpInterface>,
    DeclareOpInterfaceMethods<Attn_EntryRolesOpInterface>,
    DeclareOpInterfaceMethods<Attn_ReferenceOpInterface>]> {
  let summary = "inclusive associative scan along the sequence";
  let description = [{
    `y_t = x_0 (+) x_1 (+) ... (+) x_t` per (b, h) and per feature f, for
    the combiner (+) given by the `combine` region (shared/patterns.md A9).
    The inputs are sequences [B, H, N] (one value per token) or [B, H, N,
    F_i] with a static F_i of 1 or F, the features of the scan (1 when no
    input has more); a token's value is broadcast along the features where
    its input has one. Per feature the scan is a scan of scalars: the
    state is S f32 components (the combiner's arguments are a's S
    components then b's, it yields S).

    `leaf` (optional) maps a token's inputs (one f32 each) to its state
    (without it, the inputs are the state); `result` (optional) maps a
    prefix state to the results' values (without it, the results are the
    state). Results are [B, H, N, F] (or [B, H, N] when F = 1) of any
    float type; every region computes in f32 with arith and math ops, the
    float64 reference in float64.

    `segment(L)`: the scan restarts every L tokens (a segmented scan:
    y_t combines the tokens from the start of t's segment, floor(t / L) L,
    to t); the leaf region then takes one more argument, the token's
    position in its segment (an index, 0 at a segment's start), so that a
    segment's first state may differ (RAT's chunks restart from the
    token's own key and value).

    **Associativity is the caller's promise.** The lowerings evaluate the
    scan in chunks (each chunk folded from its left, the chunks' totals
    combined, then each chunk again from its carry): the combiner is
    applied in another grouping than the left fold, which equals it only
    when (+) is associative (up to rounding). No identity element is
    needed: a chunk's first token starts its fold.

    Aaren (Attention as an RNN): with s_t = q . k_t, the state (m, u, w)
    with leaf (s_t, 1, v_t) and the combiner below is the causal softmax
    attention of the one query q; its result w / u.

    ```mlir
    %o = attn.scan %s, %v
      leaf {
      ^bb0(%st: f32, %vt: f32):
        %one = arith.constant 1.0 : f32
        attn.yield %st, %one, %vt : f32, f32, f32
      } combine {
      ^bb0(%ma: f32, %ua: f32, %wa: f32, %mb: f32, %ub: f32, %wb: f32):
        %m = arith.maximumf %ma, %mb : f32
        %da = arith.subf %ma, %m : f32
        %ea = math.exp %da : f32
        %db = arith.subf %mb, %m : f32
        %eb = math.exp %db : f32
        %u0 = arith.mulf %ua, %ea : f32
        %u = math.fma %ub, %eb, %u0 : f32
        %w0 = arith.mulf %wa, %ea : f32
        %w = math.fma %wb, %eb, %w0 : f32
        attn.yield %m, %u, %w : f32, f32, f32
      } result {
      ^bb0(%m: f32, %u: f32, %w: f32):
        %o = arith.divf %w, %u : f32
        attn.yield %o : f32
      } : (tensor<?x?x?x1xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
    ```
  }];
  let arguments = (ins Variadic<Attn_FloatTensor>:$inputs,
                       OptionalAttr<I64Attr>:$segment);
  let results = (outs Variadic<Attn_FloatTensor>:$results);
  let regions = (region AnyRegion:$leaf, SizedRegion<1>:$combine,
                        AnyRegion:$finalize);
  let assemblyFormat = [{
    $inputs (`segment` `(` $segment^ `)`)? (`leaf` $leaf^)? `combine` $combine
    (`result` $finalize^)?
    attr-dict `:` functional-type($inputs, $results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The number of state components S.
    unsigned getNumState() {
      return getCombine().front().getNumArguments() / 2;
    }
    /// The features F (1 when no input has more than one).
    int64_t getNumFeatures();
  }];
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNRECURRENTOPS_TD
