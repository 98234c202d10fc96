"""Line edits of a parsed file: the changed keys change, every other line stays as written."""

from __future__ import annotations

from netdef.ablate.edit import TextEditor
from netdef.syntax import parse

TEXT = """\
# a net
[conv1]
type=conv
inputs=data,
    other   ; continued on the next line
filters=8 ; eight kernels

# the pool after it
[pool1]
type=pool
sizeX=3

[last]
type=fc
"""


def edited(**calls):
    editor = TextEditor(parse(TEXT, "x.cfg"))
    for method, args in calls.items():
        for a in args:
            getattr(editor, method)(*a)
    return editor, editor.text()


def test_a_value_is_replaced_in_place_with_its_comment_and_continuations():
    editor, text = edited(set=[("conv1", "filters", "16"), ("conv1", "inputs", "data")])
    assert "filters=16 ; eight kernels\n" in text
    assert "inputs=data\n" in text and "other" not in text
    assert editor.value("conv1", "filters") == "16"
    assert parse(text).sections[0].get("inputs").value == "data"


def test_a_missing_key_is_added_at_the_end_of_its_section_once():
    _, text = edited(set=[("pool1", "outputsX", "6"), ("pool1", "outputsX", "7")])
    assert "sizeX=3\noutputsX=7\n\n[last]" in text and "outputsX=6" not in text


def test_a_removed_section_takes_its_comment_block_and_one_blank_line():
    _, text = edited(remove_section=[("pool1",)])
    assert "pool" not in text and "# the pool" not in text
    assert "eight kernels\n\n[last]" in text


def test_the_last_section_can_be_removed():
    _, text = edited(remove_section=[("last",)])
    assert text.endswith("sizeX=3\n") and "[last]" not in text


def test_no_edit_gives_the_text_back():
    assert edited()[1] == TEXT
