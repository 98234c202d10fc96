"""The reader (docs/language-guide.md "File syntax"): positions, comments, continuations,
lists, bad bytes, repeated keys and ``rem`` lines as Python 2's ConfigParser read them."""

import pytest

from netdef.errors import NetdefError
from netdef.syntax import decode_text, parse, split_list


def test_sections_keys_and_positions():
    doc = parse("# top\n [conv1]\ntype=conv\nFilterSize : 5\n", "f.cfg")
    (sec,) = doc.sections
    assert sec.name == "conv1" and (sec.span.line, sec.span.col) == (2, 3)
    entry = sec.get("filtersize")
    assert entry.key == "FilterSize" and entry.value == "5"
    assert (entry.span.line, entry.span.col) == (4, 1)
    assert (entry.value_span.line, entry.value_span.col) == (4, 14)


def test_inline_semicolon_is_a_comment_but_hash_is_not():
    doc = parse("[a]\ntype=conv ; a comment\nname=x#y\n", "f.cfg")
    sec = doc.sections[0]
    assert sec.get("type").value == "conv"
    assert sec.get("name").value == "x#y"


def test_indented_line_continues_the_value():
    doc = parse("[a]\ninputs=pool2a,\n    pool2b\n", "f.cfg")
    assert split_list(doc.sections[0].get("inputs").value) == ["pool2a", "pool2b"]


def test_split_list_respects_brackets():
    assert split_list("dexp[base=0.1;tgtFactor=10;numSteps=2],0.1") == [
        "dexp[base=0.1;tgtFactor=10;numSteps=2]", "0.1"]
    assert split_list("tanh[1,2]") == ["tanh[1,2]"]


@pytest.mark.parametrize("text, where, words", [
    ("type=conv\n[a]\n", (1, 1), "before any [section]"),
    ("[a\ntype=conv\n", (1, 1), "unclosed section header"),
    ("[]\n", (1, 1), "empty section name"),
    ("[a]\njunk line\n", (2, 1), "expected 'key=value'"),
    ("", (0, 0), "empty"),  # about the whole file: no line, no column
    ("# only a comment\n", (0, 0), "empty"),
    ("[a b]\n", (1, 2), "may not contain"),
])
def test_syntax_errors_are_located(text, where, words):
    with pytest.raises(NetdefError) as exc:
        parse(text, "bad.cfg")
    d = exc.value.diagnostics[0]
    assert (d.span.path, d.span.line, d.span.col) == ("bad.cfg", *where)
    assert words in d.message


def test_every_syntax_error_is_collected():
    with pytest.raises(NetdefError) as exc:
        parse("k=v\n[a\n[b]\njunk\n", "bad.cfg")
    assert [d.span.line for d in exc.value.diagnostics] == [1, 2, 4]


def test_binary_and_invalid_utf8_are_located():
    with pytest.raises(NetdefError) as exc:
        decode_text(b"[a]\ntype=\x00conv\n", "bin.cfg")
    assert (exc.value.diagnostics[0].span.line, exc.value.diagnostics[0].span.col) == (2, 6)
    with pytest.raises(NetdefError) as exc:
        decode_text(b"[a]\n\ntype=co\xffnv\n", "u.cfg")
    d = exc.value.diagnostics[0]
    assert (d.span.line, d.span.col) == (3, 8) and "UTF-8" in d.message


def test_bom_is_accepted():
    assert decode_text(b"\xef\xbb\xbf[a]\n", "f.cfg") == "[a]\n"


def test_a_repeated_key_keeps_the_last_value_with_a_warning_naming_both_lines():
    doc = parse("[a]\ntype=conv\nfilters=16\nTYPE=fc\nfilters=32\n", "f.cfg")
    assert doc.sections[0].get("type").value == "fc"
    assert doc.sections[0].get("filters").value == "32"
    assert [(d.severity, d.span.line, d.message) for d in doc.diagnostics] == [
        ("warning", 4, "layer 'a': 'TYPE' is given twice (lines 2 and 4); the last value wins"),
        ("warning", 5, "layer 'a': 'filters' is given twice (lines 3 and 5); the last value wins")]


def test_under_strict_a_repeated_key_is_refused_not_resolved():
    """--strict makes the warning an error: it must not still say the last value wins."""
    from netdef.errors import Collector

    out = Collector(strict=True)
    out.extend(parse("[a]\ntype=conv\nfilters=16\nfilters=32\n", "f.cfg").diagnostics)
    [d] = out.items
    assert d.severity == "error" and "last value wins" not in d.message
    assert d.message == ("layer 'a': 'filters' is given twice (lines 3 and 4); "
                         "refused under --strict")
    loose = Collector()
    loose.warning(None, "params section 'x' matches no layer (ignored); did you mean 'y'?",
                  outcome="(ignored)")
    out.extend(loose.items)
    assert out.items[-1].message == ("params section 'x' matches no layer (refused under "
                                     "--strict); did you mean 'y'?")
    assert loose.items[0].severity == "warning" and "(ignored)" in loose.items[0].message


@pytest.mark.parametrize("line", ["rem a comment", "REM x = 1", "Rem", "rem = 5", "rem\tx"])
def test_a_line_whose_first_word_is_rem_is_a_comment(line):
    doc = parse(f"[a]\ntype=conv\n{line}\n", "f.cfg")
    assert list(doc.sections[0].entries) == ["type"]


@pytest.mark.parametrize("line", ["remark=1", "rem=5", "removed: 2"])
def test_keys_that_merely_start_with_rem_are_keys(line):
    doc = parse(f"[a]\ntype=conv\n{line}\n", "f.cfg")
    assert len(doc.sections[0].entries) == 2


def test_an_indented_rem_continues_the_value_as_configparser_did():
    doc = parse("[a]\ninputs=x,\n  rem\n", "f.cfg")  # ConfigParser checked column 0 only
    assert doc.sections[0].get("inputs").value == "x, rem"
