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
