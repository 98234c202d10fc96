"""Total functions: any text through parse -> build_spec -> check_net gives a result or a
NetdefError, never another exception (a traceback means a bug).

Inputs: random text, and random mutations (delete, duplicate or swap lines, flip characters,
truncate) of the repository's layers/*.cfg files and, when present, cuda-convnet's compat files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdef.check import check_net
from netdef.errors import NetdefError
from netdef.schema import build_spec
from netdef.syntax import parse

ROOT = Path(__file__).resolve().parents[1]
COMPAT = ROOT.parent / "shared" / "compat" / "cuda-convnet"


def _corpus() -> list[tuple[str, str | None]]:
    """(definition text, params text or None) pairs to mutate."""
    pairs = []
    for d in sorted((ROOT / "layers").glob("*.cfg")):
        if d.stem.endswith("-params"):
            continue
        p = d.with_name(f"{d.stem}-params.cfg")
        pairs.append((d.read_text(), p.read_text() if p.is_file() else None))
    if COMPAT.is_dir():
        for d in sorted(COMPAT.glob("v*/layers*.cfg")):
            p = d.with_name(d.name.replace("layers", "layer-params", 1))
            pairs.append((d.read_text(), p.read_text() if p.is_file() else None))
    return pairs


CORPUS = _corpus()
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run(definition: str, params: str | None, size: int | None = None, strict: bool = False):
    """The pipeline under test; returns the CheckedNet or the NetdefError."""
    try:
        doc = parse(definition, "fuzz.cfg")
        pdoc = parse(params, "fuzz-params.cfg") if params is not None else None
        # as `netdef check` does: the schema's problems go on to the check stage, which must
        # step past every layer that failed
        spec = build_spec(doc, pdoc, strict=strict, defer_errors=True)
        return check_net(spec, size, strict=strict)
    except NetdefError as exc:
        assert exc.diagnostics, "a NetdefError must carry at least one diagnostic"
        assert all(d.message for d in exc.diagnostics)
        return exc


# ---- mutations --------------------------------------------------------------------------------

CHARS = st.sampled_from(list("[]=:;#,.-+ \t\n0123456789abcxyzEe") +
                        ["nan", "inf", "type", "inputs", "data", "conv", "fc", "gpu", "relu",
                         "\u00e9", "\x00", "\r", "[", "]]", "1e999", "-1", "0"])


@st.composite
def mutated(draw):
    definition, params = draw(st.sampled_from(CORPUS))
    target_params = params is not None and draw(st.booleans())
    lines = (params if target_params else definition).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "flip", "insert", "truncate"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "flip":
            line = lines[i]
            k = draw(st.integers(0, len(line)))
            lines[i] = line[:k] + draw(CHARS) + line[k + 1:]
        elif op == "insert":
            lines[i] = lines[i] + draw(CHARS)
        else:
            text = "\n".join(lines)
            lines = text[: draw(st.integers(0, len(text)))].splitlines()
    text = "\n".join(lines)
    return (definition, text) if target_params else (text, params)


@FUZZ
@given(mutated(), st.sampled_from([None, 8, 24, 32, 56, 224]), st.booleans())
def test_mutated_files_never_crash(pair, size, strict):
    run(pair[0], pair[1], size, strict)


@FUZZ
@given(st.text(max_size=400), st.one_of(st.none(), st.text(max_size=200)))
def test_random_text_never_crashes(definition, params):
    run(definition, params)


INI_ALPHABET = st.sampled_from(list("[]=;#,\n ") + ["type", "inputs", "data", "conv", "fc",
                                                     "pool", "softmax", "cost.logreg", "dataIdx",
                                                     "channels", "filters", "filterSize",
                                                     "outputs", "1", "3", "0", "-2", "5x"])


@FUZZ
@given(st.lists(INI_ALPHABET, max_size=80).map("".join))
def test_ini_shaped_text_never_crashes(definition):
    run(definition, None, 32)


@pytest.mark.parametrize("index", range(len(CORPUS)))
def test_unmutated_corpus_runs(index):
    definition, params = CORPUS[index]
    run(definition, params)
