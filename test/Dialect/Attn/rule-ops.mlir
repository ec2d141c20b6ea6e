// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s -mlir-print-op-generic | attn-opt | FileCheck %s

// Round trip of attn.attention's rule regions and their operands.

// CHECK-LABEL: func.func @score_rule
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.causal) score_rule {
// CHECK: ^bb0(%{{.*}}: f32, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index):
// CHECK: math.tanh
// CHECK: attn.yield %{{.*}} : f32
func.func @score_rule(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                      %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal) score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %t = math.tanh %s : f32
    attn.yield %t : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// CHECK-LABEL: func.func @both_rules
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} rules(%{{.*}}, %{{.*}}) mask_rule {
// CHECK: tensor.extract
// CHECK: attn.yield %{{.*}} : i1
// CHECK: } score_rule {
// CHECK: attn.yield %{{.*}} : f32
// CHECK: } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?xi32>, tensor<?x8xf32>) -> tensor<?x?x?x64xf32>
func.func @both_rules(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                      %v: tensor<?x?x?x64xf32>, %doc: tensor<?x?xi32>,
                      %bias: tensor<?x8xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v rules(%doc, %bias) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %d: tensor<?x?xi32>,
       %t: tensor<?x8xf32>):
    %x = tensor.extract %d[%b, %i] : tensor<?x?xi32>
    %y = tensor.extract %d[%b, %j] : tensor<?x?xi32>
    %e = arith.cmpi eq, %x, %y : i32
    attn.yield %e : i1
  } score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
       %d: tensor<?x?xi32>, %t: tensor<?x8xf32>):
    %c7 = arith.constant 7 : index
    %w = tensor.extract %t[%h, %c7] : tensor<?x8xf32>
    %r = arith.addf %s, %w : f32
    attn.yield %r : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?x?xi32>, tensor<?x8xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// The block map attn-rule-block-maps makes, and the attention that reads it
// as a full_marked list.
// CHECK-LABEL: func.func @block_map
// CHECK: attn.rule_blocks %{{.*}}, %{{.*}} rules(%{{.*}}) mask(#attn.causal) block_size(128, 64) mask_rule
// CHECK: attn.attention {{.*}} blocks(%{{.*}}, %{{.*}}) block_size(128, 64)
// CHECK: } {full_marked}
func.func @block_map(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                     %v: tensor<?x?x?x64xbf16>, %d: tensor<?x?xi32>) -> tensor<?x?x?x64xbf16> {
  %idx, %cnt, %stamps, %changes, %snap = attn.rule_blocks %q, %k rules(%d) mask(#attn.causal)
      block_size(128, 64) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %dd: tensor<?x?xi32>):
    %x = tensor.extract %dd[%b, %j] : tensor<?x?xi32>
    %z = arith.constant 0 : i32
    %keep = arith.cmpi ne, %x, %z : i32
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?xi32>)
      -> (tensor<?x1x?x?xi32>, tensor<?x1x?xi32>, tensor<?x1x?xi32>, tensor<1xi32>, tensor<?x?xi32>)
  %o = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(128, 64)
       rules(%d) mask(#attn.causal) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %dd: tensor<?x?xi32>):
    %x = tensor.extract %dd[%b, %j] : tensor<?x?xi32>
    %z = arith.constant 0 : i32
    %keep = arith.cmpi ne, %x, %z : i32
    attn.yield %keep : i1
  } {full_marked} : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>,
       tensor<?x1x?x?xi32>, tensor<?x1x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
