"""attnir.patterns: the spec text (pure Python)."""
import re

import pytest

import attnir
from conftest import REPO


def _norm(text):
    return [l for l in (re.sub(r"\s+", " ", l).strip() for l in text.splitlines())
            if l and not l.startswith("//")]


def test_dense_and_causal_equal_the_examples():
    # The same function as examples/*.mlir up to comments and line breaks.
    for fn, name in ((attnir.patterns.dense, "dense"), (attnir.patterns.causal, "causal")):
        ours = " ".join(_norm(fn()))
        theirs = " ".join(_norm((REPO / "examples" / f"{name}.mlir").read_text()))
        assert ours == theirs


def test_options_appear_in_text():
    t = attnir.patterns.causal(head_dim=128, dtype="bf16", scale=0.5, lse=True, dv=96)
    assert "func.func @causal(%q: tensor<?x?x?x128xbf16>" in t
    assert "%v: tensor<?x?x?x96xbf16>" in t
    assert "mask(#attn.causal) scale(0.5)" in t
    assert "-> (tensor<?x?x?x96xbf16>, tensor<?x?x?xf32>)" in t
    assert "return %o, %lse" in t
    assert "xf16>" in attnir.patterns.dense(dtype="float16")
    assert "@mine(" in attnir.patterns.dense(name="mine")


@pytest.mark.parametrize("scale,lit", [(0.125, "0.125"), (1e-05, "1.0e-05"), (2, "2.0"),
                                       (1e20, "1.0e+20"), (0.1, "0.1")])
def test_scale_literals_have_a_dot_and_round_trip(scale, lit):
    t = attnir.patterns.dense(scale=scale)
    assert f"scale({lit})" in t
    assert float(lit) == float(scale)


def test_bad_arguments():
    with pytest.raises(TypeError):
        attnir.patterns.dense(dtype="int8")
    with pytest.raises(TypeError):
        attnir.patterns.dense(dtype="f64")
    with pytest.raises(ValueError):
        attnir.patterns.dense(head_dim=0)
    with pytest.raises(ValueError):
        attnir.patterns.dense(scale=float("inf"))
    with pytest.raises(ValueError):
        attnir.patterns.dense(name="a b")
