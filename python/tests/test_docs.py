"""docs/python.md: every ```python block runs, in order, in one namespace."""
import os
import re

import pytest

from conftest import REPO

DOC = REPO / "docs" / "python.md"


def blocks():
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.S | re.M)


def test_doc_has_examples():
    assert len(blocks()) >= 5


def test_doc_blocks_run(native, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTNIR_CACHE_DIR", str(tmp_path / "cache"))
    ns = {"__name__": "__docs__"}
    for i, code in enumerate(blocks()):
        try:
            exec(compile(code, f"{DOC}:block{i + 1}", "exec"), ns)
        except Exception as e:  # pragma: no cover - the message says which block
            pytest.fail(f"docs/python.md block {i + 1} failed: {type(e).__name__}: {e}\n{code}")
    printed = capsys.readouterr().out
    assert "max rel err" in printed
    assert re.search(r":\d+:\d+", printed), "the CompileError example shows no line:column"
    assert "argument 'q'" in printed
    for what in ("softcap", "gla"):  # the FlexAttention and fla sections
        err = re.search(rf"{what} max rel err (\S+)", printed)
        assert err and float(err.group(1)) < 1e-5, what
