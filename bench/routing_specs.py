"""The routing benchmark's specs (issue 21), shared by bench/cpu_routing.py
and bench/gpu/build_routing.py: balanced k-means routing of every head
(attn.route on q with C centroids, q, k and v gathered into the routed
order, attention over #attn.balanced<C> chunks with the causal rule on
original positions, the result scattered back), and the causal attention
it is measured against."""


# The causal rule on original positions: the region of a mask_rule reading
# the routed order `perm`.
PERM_CAUSAL = """  ^bb0(%b: index, %h: index, %i: index, %j: index, %p: tensor<?x?x?xi32>):
    %pi = tensor.extract %p[%b, %h, %i] : tensor<?x?x?xi32>
    %pj = tensor.extract %p[%b, %h, %j] : tensor<?x?x?xi32>
    %c = arith.cmpi sle, %pj, %pi : i32
    attn.yield %c : i1
"""


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
{PERM_CAUSAL}  }} : ({t}, {t}, {t}, {p}) -> {t}
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


def sorted_attention_spec(d, clusters, rule=True, elt="f32", name="sorted", region=None):
    """The routing program's attention alone, on inputs already in the
    routed order (with their perm): what its element rule costs against
    the balanced chunks without it, or with the built-in causal rule."""
    t, p = f"tensor<?x?x?x{d}x{elt}>", "tensor<?x?x?xi32>"
    if region == "index":  # j <= i in the routed order, no operand read
        return f"""func.func @{name}(%q: {t}, %k: {t}, %v: {t}) -> {t} {{
  %o = attn.attention %q, %k, %v mask(#attn.balanced<{clusters}>) mask_rule {{
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c = arith.cmpi sle, %j, %i : index
    attn.yield %c : i1
  }} : ({t}, {t}, {t}) -> {t}
  return %o : {t}
}}
"""
    if rule:
        return f"""func.func @{name}(%q: {t}, %k: {t}, %v: {t}, %perm: {p}) -> {t} {{
  %o = attn.attention %q, %k, %v rules(%perm) mask(#attn.balanced<{clusters}>) mask_rule {{
{PERM_CAUSAL}  }} : ({t}, {t}, {t}, {p}) -> {t}
  return %o : {t}
}}
"""
    mask = (f"#attn.balanced<{clusters}>" if rule is False
            else f"#attn.all_of<[#attn.balanced<{clusters}>, #attn.causal]>")
    return f"""func.func @{name}(%q: {t}, %k: {t}, %v: {t}) -> {t} {{
  %o = attn.attention %q, %k, %v mask({mask}) : ({t}, {t}, {t}) -> {t}
  return %o : {t}
}}
"""


def routing_chunked_spec(d, clusters, elt="f32", name="routing"):
    """routing_spec with attn.route's chunks(C): each balanced chunk lists
    its tokens in position order, so the causal rule on original positions
    is the built-in #attn.causal of the routed order (no rule reads perm)."""
    t, p = f"tensor<?x?x?x{d}x{elt}>", "tensor<?x?x?xi32>"
    mu = f"tensor<?x{clusters}x{d}x{elt}>"
    return f"""func.func @{name}(%q: {t}, %k: {t}, %v: {t}, %mu: {mu}) -> {t} {{
  %perm, %bucket = attn.route %q centroids(%mu) chunks({clusters}) : ({t}, {mu}) -> ({p}, {p})
  %qs = attn.permute %q by %perm : ({t}, {p}) -> {t}
  %ks = attn.permute %k by %perm : ({t}, {p}) -> {t}
  %vs = attn.permute %v by %perm : ({t}, {p}) -> {t}
  %os = attn.attention %qs, %ks, %vs mask(#attn.all_of<[#attn.balanced<{clusters}>, #attn.causal]>)
       : ({t}, {t}, {t}) -> {t}
  %o = attn.permute %os by %perm inverse : ({t}, {p}) -> {t}
  return %o : {t}
}}
"""
