"""A tiny reader of spec text: just enough for the Python reference.

It understands functions whose body is a sequence of ``attn.attention`` ops
(pretty or generic form) followed by ``return``; anything else raises
NotImplementedError. The compiler's own parser (through attnir.compile) is
the authority on what a spec means; this reader exists so that
``attnir.reference`` needs no compiled code.
"""
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

_FUNC = re.compile(r"func\.func\s+(?:(?:public|private|nested)\s+)?@([\w$.-]+|\"[^\"]*\")\s*\(")
_VALUE = r"%[\w$.-]+(?:#\d+)?"
_ATTN_PRETTY = re.compile(
    r"^(?P<res>.+?)=\s*attn\.attention\s+(?P<q>%[\w$.-]+(?:#\d+)?)\s*,\s*"
    r"(?P<k>%[\w$.-]+(?:#\d+)?)\s*,\s*(?P<v>%[\w$.-]+(?:#\d+)?)(?P<attrs>[^:]*):", re.S)
_ATTN_GENERIC = re.compile(
    r"^(?P<res>.+?)=\s*\"attn\.attention\"\s*\(\s*(?P<q>%[\w$.-]+(?:#\d+)?)\s*,\s*"
    r"(?P<k>%[\w$.-]+(?:#\d+)?)\s*,\s*(?P<v>%[\w$.-]+(?:#\d+)?)\s*\)(?P<attrs>.*?)\)\s*->", re.S)
_MASK = re.compile(r"mask\s*(?:\(|=)\s*#attn\.([\w.]+)(?:\s*<\s*(\d+)\s*,\s*(\d+)\s*>)?")
_SCALE = re.compile(r"scale\s*(?:\(\s*|=\s*)([-+0-9.eE]+|0x[0-9a-fA-F]+)")


@dataclass
class Attention:
    results: List[str]          # SSA names of out (and lse)
    q: str
    k: str
    v: str
    mask: Optional[str] = None  # "causal", "window" or None
    scale: Optional[float] = None
    window: Optional[Tuple[int, int]] = None  # (left, right) of #attn.window


@dataclass
class Function:
    name: str
    args: List[Tuple[str, str]]  # (SSA name without %, type text)
    ops: List[Attention] = field(default_factory=list)
    returns: List[str] = field(default_factory=list)


def _strip_comments(text):
    out = []
    for line in text.splitlines():
        i, in_str = 0, False
        while i < len(line):
            c = line[i]
            if c == '"':
                in_str = not in_str
            elif not in_str and line.startswith("//", i):
                line = line[:i]
                break
            i += 1
        out.append(line)
    return "\n".join(out)


def _match(text, i, open_c, close_c):
    """Index just past the bracket closing the one at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_c:
            depth += 1
        elif text[j] == close_c:
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError(f"unbalanced '{open_c}' in spec")


def _split_top(text, sep=","):
    parts, depth, cur = [], 0, []
    for c in text:
        if c in "<([{":
            depth += 1
        elif c in ">)]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p.strip() for p in parts]


def _results(res_text):
    names = []
    for r in _split_top(res_text):
        m = re.fullmatch(r"(%[\w$.-]+)(?::(\d+))?", r.strip())
        if not m:
            raise NotImplementedError(f"cannot read results '{res_text.strip()}'")
        if m.group(2):
            names += [f"{m.group(1)}#{i}" for i in range(int(m.group(2)))]
        else:
            names.append(m.group(1))
    return names


def _scale(text):
    s = text.strip()
    return float.fromhex(s) if s.lower().startswith("0x") else float(s)


def parse(text) -> List[Function]:
    """The functions of a spec, in order."""
    text = _strip_comments(text)
    funcs = []
    for m in _FUNC.finditer(text):
        name = m.group(1).strip('"')
        lp = m.end() - 1
        rp = _match(text, lp, "(", ")")
        args = []
        for a in _split_top(text[lp + 1:rp - 1]):
            am = re.fullmatch(r"%([\w$.-]+)\s*:\s*(.+?)(\s*\{.*\})?", a, re.S)
            if not am:
                raise NotImplementedError(f"cannot read argument '{a}' of @{name}")
            args.append((am.group(1), am.group(2).strip()))
        lb = text.find("{", rp)
        if lb < 0:  # a declaration
            continue
        body = text[lb + 1:_match(text, lb, "{", "}") - 1]
        fn = Function(name, args)
        for stmt in _statements(body):
            if re.match(r"(?:func\.)?return\b", stmt):
                vals = stmt.split(None, 1)[1].split(":", 1)[0] if " " in stmt else ""
                fn.returns = [v.strip() for v in vals.split(",") if v.strip()]
                continue
            pm = _ATTN_PRETTY.match(stmt) or _ATTN_GENERIC.match(stmt)
            if not pm:
                op = re.search(r"=\s*\"?([\w.]+)", stmt)
                raise NotImplementedError(
                    f"the Python reference handles attn.attention only; @{name} "
                    f"uses '{op.group(1) if op else stmt.split()[0]}'")
            attrs = pm.group("attrs")
            mask = _MASK.search(attrs)
            scale = _SCALE.search(attrs)
            fn.ops.append(Attention(_results(pm.group("res")), pm.group("q"),
                                    pm.group("k"), pm.group("v"),
                                    mask.group(1) if mask else None,
                                    _scale(scale.group(1)) if scale else None,
                                    (int(mask.group(2)), int(mask.group(3)))
                                    if mask and mask.group(2) else None))
        funcs.append(fn)
    return funcs


def _statements(body):
    """Split a function body into ops: a new op starts at a line beginning with
    '%' or 'return'/'func.return' (continuation lines start otherwise)."""
    stmts, cur = [], []
    for line in body.splitlines():
        s = line.strip()
        if not s:
            continue
        if (s.startswith("%") or re.match(r"(?:func\.)?return\b", s) or
                re.match(r"\"?[\w.]+\"?\s*\(", s)) and cur:
            stmts.append(" ".join(cur))
            cur = []
        cur.append(s)
    if cur:
        stmts.append(" ".join(cur))
    return stmts


def find(funcs, entry=None) -> Function:
    if not funcs:
        raise ValueError("the spec has no func.func")
    if entry is None:
        return funcs[0]
    for f in funcs:
        if f.name == entry:
            return f
    raise ValueError(f"no entry named '{entry}' (the spec has "
                     f"{', '.join(f.name for f in funcs)})")
