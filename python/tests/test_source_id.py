"""cmake/SourceId.cmake: the source id in attnir.version() that keys the disk cache."""
import shutil
import subprocess

import pytest

from conftest import REPO

SCRIPT = REPO / "cmake" / "SourceId.cmake"
pytestmark = pytest.mark.skipif(not (shutil.which("cmake") and shutil.which("git")),
                                reason="needs cmake and git")


def source_id(src, out):
    subprocess.run(["cmake", f"-DSRC={src}", f"-DOUT={out}", "-P", str(SCRIPT)], check=True,
                   capture_output=True, timeout=60)
    text = out.read_text()
    assert text.count("#define ATTNIR_SOURCE_ID") == 1
    return text.split('"')[1]


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_clean_modified_untracked_and_no_git(tmp_path):
    repo, out = tmp_path / "repo", tmp_path / "SourceId.h"
    (repo / "lib").mkdir(parents=True)
    (repo / "docs").mkdir()
    (repo / "lib" / "a.cpp").write_text("int a;\n")
    (repo / "docs" / "d.md").write_text("doc\n")
    # no git repository: the release alone
    assert source_id(repo, out) == ""
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    clean = source_id(repo, out)
    assert clean == "g" + git(repo, "rev-parse", "--short=12", "HEAD")
    # the header is rewritten only when the id changes (no rebuild otherwise)
    before = out.stat().st_mtime_ns
    assert source_id(repo, out) == clean and out.stat().st_mtime_ns == before
    # edits outside the compiler's sources do not change it
    (repo / "docs" / "d.md").write_text("doc, edited\n")
    assert source_id(repo, out) == clean
    # an edit of a compiled source does, and each edit gives its own id
    (repo / "lib" / "a.cpp").write_text("int a = 1;\n")
    first = source_id(repo, out)
    assert first.startswith(clean + ".m") and len(first) == len(clean) + 14
    (repo / "lib" / "a.cpp").write_text("int a = 2;\n")
    second = source_id(repo, out)
    assert second.startswith(clean + ".m") and second != first
    # so does a new, untracked source file, and its content
    (repo / "lib" / "a.cpp").write_text("int a;\n")
    (repo / "lib" / "b.cpp").write_text("int b;\n")
    third = source_id(repo, out)
    assert third.startswith(clean + ".m") and third not in (first, second)
    (repo / "lib" / "b.cpp").write_text("int b = 1;\n")
    assert source_id(repo, out) not in (third, clean)
