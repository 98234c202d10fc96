"""docs/language.md is generated from the models and must stay in sync with them."""

from netdef.schema.reference import reference_markdown

from conftest import ROOT


def test_language_reference_is_up_to_date():
    text = (ROOT / "docs" / "language.md").read_text()
    assert text == reference_markdown(), "regenerate: netdef schema --markdown > docs/language.md"


INSTALL = "pip install torch --index-url https://download.pytorch.org/whl/cpu && pip install -e ."
TESTS = 'pip install -e ".[test]" && python -m pytest'


def test_ci_installs_and_tests_as_the_readme_says():
    """CI runs the README's install and test commands verbatim, in a fresh environment."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for command in (INSTALL, TESTS):
        assert command in readme and command in ci, command
    assert f"{INSTALL} && netdef train examples/quickstart.cfg" in readme  # the first command
    assert "python3 -m venv" in ci and "system-site-packages" not in ci.replace(
        "(no system site-packages)", "")


def test_the_language_guide_names_every_layer_type_and_schedule():
    """docs/language-guide.md is kept by hand: it must at least mention what the code accepts."""
    from netdef.schedules import A12_KINDS, SCHEDULE_KINDS
    from netdef.schema import LAYER_TYPES, REJECTED

    guide = (ROOT / "docs" / "language-guide.md").read_text()
    for name in [*LAYER_TYPES, *REJECTED, *SCHEDULE_KINDS, *A12_KINDS]:
        assert f"`{name}" in guide, name
