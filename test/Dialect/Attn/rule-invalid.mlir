// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Rule regions: what they take, what they may hold, what they yield.

func.func @mask_rule_args(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                          %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{mask_rule takes 4 arguments ('index', 'index', 'index', 'index'), got 3}}
  %o = attn.attention %q, %k, %v mask_rule {
  ^bb0(%b: index, %h: index, %i: index):
    %t = arith.constant true
    attn.yield %t : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @score_rule_arg_type(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                               %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{score_rule argument 0 must be 'f32', got 'f16'}}
  %o = attn.attention %q, %k, %v score_rule {
  ^bb0(%s: f16, %b: index, %h: index, %i: index, %j: index):
    %c = arith.constant 1.0 : f32
    attn.yield %c : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @mask_rule_yield(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                           %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'attn.yield' op of mask_rule must yield 'i1', got 'index'}}
    attn.yield %i : index
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @rule_loop(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'scf.index_switch' op may not appear in mask_rule (rules use arith and math ops on scalars, tensor.extract and tensor.dim of the rule operands)}}
    %r = scf.index_switch %i -> i1
    default {
      %t = arith.constant true
      scf.yield %t : i1
    }
    attn.yield %r : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// A region reads only its arguments: not the function's values, and so
// never the op's own output.
func.func @rule_captures(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                         %v: tensor<?x?x?x64xf32>, %t: tensor<?xf32>)
    -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'tensor.extract' op in score_rule must read one of the rule operands (an argument of the region)}}
    %w = tensor.extract %t[%j] : tensor<?xf32>
    attn.yield %w : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @rule_operands_unread(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                                %v: tensor<?x?x?x64xf32>, %t: tensor<?xf32>)
    -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{rules(...) operands are read by no mask_rule or score_rule region}}
  %o = attn.attention %q, %k, %v rules(%t)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @rule_dim(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                    %v: tensor<?x?x?x64xf32>, %t: tensor<?x?xf32>)
    -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v rules(%t) score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %tt: tensor<?x?xf32>):
    // expected-error @+1 {{'tensor.dim' op in score_rule needs a constant dimension}}
    %d = tensor.dim %tt, %h : tensor<?x?xf32>
    attn.yield %s : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?x?xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @rule_attr(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{#attn.rule stands for a mask_rule region; write the region instead}}
  %o = attn.attention %q, %k, %v mask(#attn.rule)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @rule_vector(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                       %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'arith.constant' op in score_rule must have one scalar result}}
    %c = arith.constant dense<1.0> : vector<4xf32>
    attn.yield %s : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// One map for all heads needs a rule that ignores the head.
func.func @shared_map_reads_head(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>) {
  // expected-error @+1 {{'attn.rule_blocks' op a map shared by all heads (dimension 1 of kv_indices is 1) needs a rule that does not read h}}
  %idx, %cnt, %st, %ch = attn.rule_blocks %q, %k block_size(128, 128) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi ule, %h, %j : index
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      -> (tensor<?x1x?x?xi32>, tensor<?x1x?xi32>, tensor<?x1x?xi32>, tensor<1xi32>)
  return
}

// -----

func.func @map_region_reads_outside(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>) {
  %idx, %cnt, %st, %ch = attn.rule_blocks %q, %k block_size(128, 128) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %true = arith.constant true
    // expected-error @+1 {{'scf.if' op may not appear in mask_rule}}
    %keep = scf.if %true -> i1 {
      scf.yield %true : i1
    } else {
      scf.yield %true : i1
    }
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      -> (tensor<?x?x?x?xi32>, tensor<?x?x?xi32>, tensor<?x?x?xi32>, tensor<1xi32>)
  return
}

// -----

// The map keeps a snapshot of each rule operand, of its type.
func.func @map_without_snapshot(%q: tensor<?x?x?x64xbf16>, %t: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.rule_blocks' op needs one snapshot of each rule operand's type}}
  %idx, %cnt, %st, %ch = attn.rule_blocks %q, %q rules(%t) block_size(128, 128) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %tt: tensor<?x8xf32>):
    %keep = arith.cmpi ule, %j, %i : index
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x8xf32>)
      -> (tensor<?x?x?x?xi32>, tensor<?x?x?xi32>, tensor<?x?x?xi32>, tensor<1xi32>)
  return
}

// -----

func.func @full_marked_without_list(%q: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  // expected-error @+1 {{full_marked needs a block list}}
  %o = attn.attention %q, %q, %q {full_marked}
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}

// -----

// An empty region (no terminator) is an error, not a read past the block
// (fuzz-spec found it under AddressSanitizer).
func.func @mask_rule_empty(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                           %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{mask_rule must end in attn.yield}}
  %o = attn.attention %q, %k, %v mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
