"""docs/language.md is generated from the models and must stay in sync with them."""

from netdef.schema.reference import reference_markdown

from conftest import ROOT


def test_language_reference_is_up_to_date():
    text = (ROOT / "docs" / "language.md").read_text()
    assert text == reference_markdown(), "regenerate: netdef schema --markdown > docs/language.md"


def test_readme_names_the_test_command_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = 'pip install -e ".[test]" && python -m pytest'
    assert command in readme and command in ci


def test_the_language_guide_names_every_layer_type_and_schedule():
    """docs/language-guide.md is kept by hand: it must at least mention what the code accepts."""
    from netdef.schedules import A12_KINDS, SCHEDULE_KINDS
    from netdef.schema import LAYER_TYPES, REJECTED

    guide = (ROOT / "docs" / "language-guide.md").read_text()
    for name in [*LAYER_TYPES, *REJECTED, *SCHEDULE_KINDS, *A12_KINDS]:
        assert f"`{name}" in guide, name
