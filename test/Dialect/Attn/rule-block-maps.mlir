// RUN: attn-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(attn-rule-block-maps))' | FileCheck %s
// RUN: attn-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(attn-rule-block-maps{block-q=64 block-k=64}))' | FileCheck %s --check-prefix=SMALL

// A mask_rule that ignores the head gets one map for all heads (Hl = 1),
// made by attn.rule_blocks with a copy of the region and the mask
// attribute; the attention reads it as a full_marked block list.
// CHECK-LABEL: func.func @document_region
// CHECK: %[[IDX:[a-z_0-9]+]], %[[CNT:[a-z_0-9]+]], %{{.*}}, %{{.*}}, %{{.*}}:2 = attn.rule_blocks %arg0, %arg1 rules(%arg3, %arg4) mask(#attn.causal) block_size(128, 128) mask_rule {
// CHECK: tensor.extract
// CHECK: arith.cmpi eq
// CHECK: attn.yield
// The map's memory between calls: row stamps, the change counter and a
// snapshot of each rule operand.
// CHECK: -> (tensor<2x1x3x2xi32>, tensor<2x1x3xi32>, tensor<2x1x3xi32>, tensor<1xi32>, tensor<2x300xi32>, tensor<2x200xi32>)
// CHECK: attn.attention %arg0, %arg1, %arg2 blocks(%[[IDX]], %[[CNT]]) block_size(128, 128) rules(%arg3, %arg4) mask(#attn.causal) mask_rule
// CHECK: {full_marked}
// SMALL-LABEL: func.func @document_region
// SMALL: attn.rule_blocks {{.*}} block_size(64, 64)
// SMALL: -> (tensor<2x1x5x4xi32>, tensor<2x1x5xi32>, tensor<2x1x5xi32>, tensor<1xi32>, tensor<2x300xi32>, tensor<2x200xi32>)
func.func @document_region(%q: tensor<2x4x300x64xbf16>, %k: tensor<2x2x200x64xbf16>,
                           %v: tensor<2x2x200x64xbf16>, %q_doc: tensor<2x300xi32>,
                           %k_doc: tensor<2x200xi32>) -> tensor<2x4x300x64xbf16> {
  %o = attn.attention %q, %k, %v rules(%q_doc, %k_doc) mask(#attn.causal)
       mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index,
       %qd: tensor<2x300xi32>, %kd: tensor<2x200xi32>):
    %a = tensor.extract %qd[%b, %i] : tensor<2x300xi32>
    %c = tensor.extract %kd[%b, %j] : tensor<2x200xi32>
    %same = arith.cmpi eq, %a, %c : i32
    attn.yield %same : i1
  } : (tensor<2x4x300x64xbf16>, tensor<2x2x200x64xbf16>, tensor<2x2x200x64xbf16>,
       tensor<2x300xi32>, tensor<2x200xi32>) -> tensor<2x4x300x64xbf16>
  return %o : tensor<2x4x300x64xbf16>
}

// -----

// A rule that reads the head gets a map per query head (Hl = Hq); the
// score rule stays on the attention only.
// CHECK-LABEL: func.func @per_head
// CHECK: attn.rule_blocks %arg0, %arg1 rules(%arg3) block_size(128, 128) mask_rule
// CHECK-NOT: score_rule
// CHECK: -> (tensor<?x?x?x?xi32>, tensor<?x?x?xi32>, tensor<?x?x?xi32>, tensor<1xi32>, tensor<?x?x?xi32>)
// CHECK: attn.attention {{.*}} blocks({{.*}}) block_size(128, 128) rules(%arg3) mask_rule
// CHECK: score_rule
// CHECK: {full_marked}
func.func @per_head(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                    %v: tensor<?x?x?x64xbf16>, %t: tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16> {
  %o = attn.attention %q, %k, %v rules(%t) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %tb: tensor<?x?x?xi32>):
    %c = arith.constant 128 : index
    %qb = arith.divsi %i, %c : index
    %kb = arith.divsi %j, %c : index
    %x = tensor.extract %tb[%h, %qb, %kb] : tensor<?x?x?xi32>
    %z = arith.constant 0 : i32
    %keep = arith.cmpi ne, %x, %z : i32
    attn.yield %keep : i1
  } score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %tb: tensor<?x?x?xi32>):
    attn.yield %s : f32
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
       tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}

// -----

// A score rule alone, a spec's own block list and document ids keep the
// attention as it is.
// CHECK-LABEL: func.func @untouched
// CHECK-NOT: attn.rule_blocks
// CHECK-NOT: full_marked
func.func @untouched(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                     %v: tensor<?x?x?x64xbf16>, %idx: tensor<?x?x?x?xi32>,
                     %cnt: tensor<?x?x?xi32>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) {
  %a = attn.attention %q, %k, %v mask(#attn.causal) score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    attn.yield %s : f32
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16>
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(128, 128) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi ule, %j, %i : index
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
       tensor<?x?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %a, %o : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>
}
