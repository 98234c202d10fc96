"""The malformed-input corpus: every tests/data/invalid/NAME.cfg fails with exactly the error
lines of NAME.err (in the manner of tomli's and configparser's suites).

Conventions of the folder:
  - NAME.cfg is checked with ``netdef.check.load`` from the repository root, with the relative
    path ``tests/data/invalid/NAME.cfg`` (so diagnostics print that path), at input side 32.
  - NAME.params, when present, is passed explicitly as the params file; otherwise the definition
    stands alone (params written inline: the one-file form).
  - NAME starting with ``strict-`` is checked with ``strict=True``.
  - NAME.err holds the expected diagnostics, errors only, one ``path:line:col: error: ...`` per
    line, in the order netdef sorts them.  Warnings and notes are not pinned.  Every case has
    one (write it with ``python tests/test_invalid_corpus.py --write NAME``, then read it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from netdef.check import load
from netdef.errors import NetdefError

ROOT = Path(__file__).resolve().parents[1]
INVALID = Path("tests") / "data" / "invalid"
INPUT_SIZE = 32
# path:line:col, or the path alone for an error about the whole file (no made-up :1:1)
LOCATED = re.compile(r"^tests/data/invalid/[\w.-]+\.(cfg|params)(:\d+:\d+)?: error: \S.*$")


def cases() -> list[str]:
    return sorted(p.stem for p in (ROOT / INVALID).glob("*.cfg"))


def check(name: str) -> NetdefError | None:
    """Load one case from the repository root; the NetdefError it raises, or None."""
    cfg = INVALID / f"{name}.cfg"
    params = INVALID / f"{name}.params"
    try:
        load(cfg, params if (ROOT / params).is_file() else None, INPUT_SIZE,
             strict=name.startswith("strict-"))
    except NetdefError as exc:
        return exc
    return None


def error_lines(exc: NetdefError) -> list[str]:
    return [d.format() for d in exc.diagnostics if d.severity == "error"]


@pytest.fixture(autouse=True)
def _from_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_corpus_is_large_enough():
    assert len(cases()) >= 35


def test_every_case_is_pinned_and_every_file_is_a_case():
    for name in cases():
        assert (ROOT / INVALID / f"{name}.err").is_file(), f"{name}: write its .err"
    for extra in [*(ROOT / INVALID).glob("*.params"), *(ROOT / INVALID).glob("*.err")]:
        assert (extra.with_suffix(".cfg")).is_file(), f"{extra.name} has no definition"


@pytest.mark.parametrize("name", cases())
def test_case_fails_with_located_errors(name):
    """Every case: a NetdefError (never another exception), every error located in this
    case's own files."""
    exc = check(name)
    assert exc is not None, f"{name}.cfg was accepted"
    lines = error_lines(exc)
    assert lines
    for line in lines:
        assert LOCATED.match(line), line
        assert line.startswith((f"{INVALID.as_posix()}/{name}.cfg:",
                                f"{INVALID.as_posix()}/{name}.params:")), line


@pytest.mark.parametrize("name", cases())
def test_case_diagnostics_match_err_file(name):
    exc = check(name)
    assert exc is not None, f"{name}.cfg was accepted"
    want = (ROOT / INVALID / f"{name}.err").read_text(encoding="utf-8").splitlines()
    assert error_lines(exc) == want


def test_ten_megabyte_file_is_refused_early(tmp_path):
    path = tmp_path / "huge.cfg"
    block = "[layer{}]\ntype=neuron\ninputs=data\nneuron=relu\n\n"
    with path.open("w") as f:
        f.write("[data]\ntype=data\ndataIdx=0\n\n")
        i = 0
        while f.tell() < 10 * 2**20:
            f.write(block.format(i))
            i += 1
    with pytest.raises(NetdefError) as info:
        load(path, input_size=INPUT_SIZE)
    [diag] = info.value.diagnostics
    assert diag.severity == "error"
    assert diag.format().startswith(f"{path}: error: file is too large")


if __name__ == "__main__":  # write .err files for the named cases, from the current checker
    import os

    os.chdir(ROOT)
    for name in (sys.argv[2:] if sys.argv[1:2] == ["--write"] else []):
        exc = check(name)
        if exc is None:
            raise SystemExit(f"{name}: accepted, nothing to write")
        (ROOT / INVALID / f"{name}.err").write_text("\n".join(error_lines(exc)) + "\n",
                                                    encoding="utf-8")
        print(f"{name}.err:", *error_lines(exc), sep="\n  ")
