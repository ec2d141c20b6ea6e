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
