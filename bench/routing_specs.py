"""The routing benchmark's specs (issue 21), shared by bench/cpu_routing.py
and bench/gpu/build_routing.py: balanced k-means routing of every head
(attn.route on q with C centroids, q, k and v gathered into the routed
order, attention over #attn.balanced<C> chunks with the causal rule on
original positions, the result scattered back), and the causal attention
it is measured against."""


def routing_spec(d, clusters, elt="f32", name="routing"):
    t = f"tensor<?x?x?x{d}x{elt}>"
    p = "tensor<?x?x?xi32>"
    mu = f"tensor<?x{clusters}x{d}x{elt}>"
    return f"""func.func @{name}(%q: {t}, %k: {t}, %v: {t}, %mu: {mu}) -> {t} {{
  %perm, %bucket = attn.route %q centroids(%mu) : ({t}, {mu}) -> ({p}, {p})
  %qs = attn.permute %q by %perm : ({t}, {p}) -> {t}
  %ks = attn.permute %k by %perm : ({t}, {p}) -> {t}
  %vs = attn.permute %v by %perm : ({t}, {p}) -> {t}
  %os = attn.attention %qs, %ks, %vs rules(%perm) mask(#attn.balanced<{clusters}>)
       mask_rule {{
  ^bb0(%b: index, %h: index, %i: index, %j: index, %p: {p}):
    %pi = tensor.extract %p[%b, %h, %i] : {p}
    %pj = tensor.extract %p[%b, %h, %j] : {p}
    %c = arith.cmpi sle, %pj, %pi : i32
    attn.yield %c : i1
  }} : ({t}, {t}, {t}, {p}) -> {t}
  %o = attn.permute %os by %perm inverse : ({t}, {p}) -> {t}
  return %o : {t}
}}
"""


def causal_spec(d, elt="f32", name="causal"):
    t = f"tensor<?x?x?x{d}x{elt}>"
    return f"""func.func @{name}(%q: {t}, %k: {t}, %v: {t}) -> {t} {{
  %o = attn.attention %q, %k, %v mask(#attn.causal) : ({t}, {t}, {t}) -> {t}
  return %o : {t}
}}
"""
