"""Total functions: any text through parse -> build_spec -> check_net gives a result or a
NetdefError, never another exception (a traceback means a bug), and every error of a
NetdefError is located inside the text it is about (its file, a line and column that exist).
The unmutated seeds are pinned: each is accepted, but the one cuda-convnet file netdef refuses.

Inputs: random text, and random mutations (delete, duplicate or swap lines, flip characters,
truncate) of the repository's layers/*.cfg files and, when present, cuda-convnet's compat files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdef.check import check_net
from netdef.check.load import declared_channels
from netdef.errors import NetdefError
from netdef.schema import build_spec
from netdef.syntax import parse

ROOT = Path(__file__).resolve().parents[1]
COMPAT = ROOT.parent / "shared" / "compat" / "cuda-convnet"


def _seeds() -> dict[str, tuple[str, str | None]]:
    """{name: (definition text, params text or None)}: the files to mutate."""
    seeds = {}
    for d in sorted((ROOT / "layers").glob("*.cfg")):
        if d.stem.endswith("-params"):
            continue
        p = d.with_name(f"{d.stem}-params.cfg")
        seeds[f"layers/{d.name}"] = (d.read_text(), p.read_text() if p.is_file() else None)
    if COMPAT.is_dir():
        for d in sorted(COMPAT.glob("v*/layers*.cfg")):
            p = d.with_name(d.name.replace("layers", "layer-params", 1))
            seeds[f"compat/{d.relative_to(COMPAT)}"] = (
                d.read_text(), p.read_text() if p.is_file() else None)
    return seeds


SEEDS = _seeds()
CORPUS = list(SEEDS.values())
# The seeds netdef refuses (cuda-convnet's example names a layer type it never had).
REFUSED_SEEDS = {"compat/v1/layers-example.cfg"}
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run(definition: str, params: str | None, size: int | None = None, strict: bool = False):
    """The pipeline under test, as ``netdef check`` runs it (the image channels the file
    declares); returns the CheckedNet or the NetdefError."""
    try:
        doc = parse(definition, "fuzz.cfg")
        pdoc = parse(params, "fuzz-params.cfg") if params is not None else None
        # as `netdef check` does: the schema's problems go on to the check stage, which must
        # step past every layer that failed
        spec = build_spec(doc, pdoc, strict=strict, defer_errors=True)
        return check_net(spec, size, declared_channels(spec), strict=strict)
    except NetdefError as exc:
        assert exc.errors, "a NetdefError must carry at least one error"
        assert all(d.message for d in exc.diagnostics)
        texts = {"fuzz.cfg": definition}
        if params is not None:
            texts["fuzz-params.cfg"] = params
        for d in exc.errors:
            assert_inside(d, texts)
        return exc


def assert_inside(d, texts: dict[str, str]) -> None:
    """The diagnostic's span names one of the files and a place that exists in it: line 0
    (the whole file) or a line of the file, column 0 (the whole line) or one within the line
    or just past its end (where something is missing)."""
    assert d.span is not None, f"unlocated: {d}"
    assert d.span.path in texts, f"names another file: {d}"
    lines = texts[d.span.path].splitlines()
    assert 0 <= d.span.line <= max(len(lines), 1), f"no such line: {d}"
    if d.span.line >= 1 and d.span.col >= 1:
        line = lines[d.span.line - 1] if d.span.line <= len(lines) else ""
        assert d.span.col <= len(line) + 1, f"no such column: {d}"
    assert d.span.col >= 0, d


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


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_unmutated_seed_is_accepted_or_refused_as_pinned(name):
    result = run(*SEEDS[name])
    if name in REFUSED_SEEDS:
        assert isinstance(result, NetdefError), f"{name} was accepted"
    else:
        assert not isinstance(result, NetdefError), f"{name} was refused:\n{result}"


def test_pinned_refusals_are_seeds():
    if not COMPAT.is_dir():
        pytest.skip("../shared/compat/cuda-convnet is absent")
    assert REFUSED_SEEDS <= set(SEEDS)
