"""The language commands through click's CliRunner: exit codes, output, one test per failure
path."""

import json

import pytest
from click.testing import CliRunner

from netdef.cli import cli

from conftest import LAYERS, ROOT, cli_failed

ALEXNET = str(LAYERS / "alexnet-2gpu.cfg")


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_check_alexnet_prints_one_summary_line():
    r = CliRunner().invoke(cli, ["check", ALEXNET], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "ok: 33 layers, 60,965,224 parameters, 2 devices, input 3×224×224 (default)" in r.output


def test_check_experiment_uses_inner_size():
    r = CliRunner().invoke(cli, ["check", str(ROOT / "examples" / "quickstart.cfg")],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "(default)" not in r.output.splitlines()[0]


def test_summary_json(tmp_path):
    r = CliRunner().invoke(cli, ["summary", ALEXNET, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["params"] == 60_965_224
    conv = {layer["name"]: layer for layer in data["layers"] if layer["type"] == "conv"}
    assert conv["conv1a"]["shape"] == [48, 55, 55] and conv["conv1a"]["device"] == 0
    assert {t["to"] for t in data["transfers"]} <= {"conv3a", "conv3b", "fc6a", "fc6b", "fc7a",
                                                     "fc7b", "fc8"}
    assert all(layer["device"] is None for layer in data["layers"] if layer["type"] == "data")


def test_summary_table_lists_transfers_and_memory():
    r = CliRunner().invoke(cli, ["summary", ALEXNET], catch_exceptions=False)
    assert r.exit_code == 0
    assert "cross-device transfers" in r.output and "memory per device" in r.output


def test_schema_is_json_with_every_layer_type_and_the_experiment_reachable():
    r = run("schema")
    assert r.exit_code == 0
    schema = json.loads(r.stdout)
    mapping = schema["$defs"]["Layer"]["discriminator"]["mapping"]
    assert "conv" in mapping and "cost.logreg" in mapping
    # from the root: [train] is the experiment, any other section a layer section
    assert schema["properties"]["train"] == {"$ref": "#/$defs/Experiment"}
    assert schema["additionalProperties"] == {"$ref": "#/$defs/Layer"}
    assert "batch-size" in schema["$defs"]["Experiment"]["properties"]


def test_bad_file_exits_1_with_located_message(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[data]\ntype=data\n[conv]\ntype=conv\ninputs=data\nfilterSize=5x\n")
    cli_failed(run("check", str(bad)),
               f"{bad}:6:12: error: layer 'conv': 'filterSize' must be an integer (got '5x')")


def test_missing_file_is_bad_input_not_a_usage_error():
    cli_failed(run("check", "does/not/exist.cfg"), "does/not/exist.cfg: error: no such", code=1)


def test_bad_input_size_is_a_usage_error():
    cli_failed(run("check", ALEXNET, "--input-size", "0"), "--input-size", code=2)


def test_verbose_lists_notes_and_strict_fails_on_warnings(tmp_path):
    net = tmp_path / "net.cfg"
    net.write_text("[data]\ntype=data\n[c]\ntype=conv\ninputs=data\nchannels=3\nfilters=4\n"
                   "filterSize=3\npartialSum=4\nfilters=4\n"
                   "[out]\ntype=fc\ninputs=c\noutputs=2\n[cost]\ntype=cost.sum2\ninputs=out\n")
    r = run("check", str(net), "--verbose", "--input-size", "8")
    assert (
        r.exit_code == 0 and "partialSum" in r.output and "checked the definition alone" in r.output
    )
    r = run("check", str(net), "--strict", "--input-size", "8")
    cli_failed(r, "'filters' is given twice (lines 7 and 10)")


@pytest.mark.parametrize("command", ["check", "summary", "schema"])
def test_help_has_an_example(command):
    r = run(command, "--help")
    assert r.exit_code == 0 and "Example" in r.output


def test_check_reports_definition_and_params_problems_in_one_pass_counted_per_file():
    invalid = ROOT / "tests" / "data" / "invalid"
    r = run("check", str(invalid / "one-pass-definition-and-params.cfg"), "--params",
            str(invalid / "one-pass-definition-and-params.params"), "--input-size", "32")
    cli_failed(r, "unknown neuron 'rleu'; did you mean 'relu'?", "'pool=rand'",
               "unknown input 'fc9'", "looks like a decimal comma: write '0.0005'",
               "unknown key 'monW'; did you mean 'momW'?")
    assert r.stderr.rstrip().splitlines()[-1] == (
        f"5 errors: 3 in {invalid / 'one-pass-definition-and-params.cfg'}, "
        f"2 in {invalid / 'one-pass-definition-and-params.params'}")


def test_bad_input_goes_to_stderr_alone_with_the_errors_counted(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[data]\ntype=data\n[conv]\ntype=conv\ninputs=data\nfilterSize=5x\n"
                   "stride=two\n")
    r = run("check", str(bad))
    assert r.stdout == ""
    cli_failed(r, f"{bad}:6:12: error:", f"{bad}:7:8: error:")
    assert r.stderr.rstrip().endswith(f"errors in {bad}")


def test_errors_are_counted_in_the_file_they_are_in():
    from netdef.cli.render import error_count
    from netdef.errors import Diagnostic, Span

    diags = [Diagnostic(Span("a.cfg", 3, 1), "x"), Diagnostic(Span("a-params.cfg", 2, 1), "y"),
             Diagnostic(Span("a.cfg", 5, 1), "z"), Diagnostic(Span("a.cfg", 6, 1), "n", "note")]
    assert error_count(diags) == "3 errors: 2 in a.cfg, 1 in a-params.cfg"
    assert error_count(diags[:1]) is None  # one error: its own line says it all


def test_file_level_errors_carry_no_made_up_position(tmp_path):
    empty = tmp_path / "empty.cfg"
    empty.write_text("# nothing\n")
    r = run("check", str(empty))
    cli_failed(r)
    assert r.stderr.startswith(f"{empty}: error: no [sections] found")


def test_ctrl_c_outside_training_exits_130(monkeypatch):
    import netdef.cli.language as language

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(language, "load", interrupted)
    r = run("check", ALEXNET)
    assert r.exit_code == 130 and "interrupted" in r.stderr and "Traceback" not in r.output


@pytest.mark.parametrize("command", ["train", "eval"])
def test_data_option_help_names_every_kind_of_data(command):
    text = " ".join(run(command, "--help").output.split())
    for kind in ("Image folder", "IDX", "CIFAR", "packed cache", "builtin:shapes"):
        assert kind in text, (command, kind)


def test_top_level_help_says_how_to_start_and_cuts_no_summary():
    r = run("--help")
    assert r.exit_code == 0
    assert "netdef train examples/quickstart.cfg" in r.output
    commands = r.output[r.output.index("Commands:"):].splitlines()[1:]
    assert len(commands) >= 14 and not [line for line in commands if "..." in line]


def test_every_file_named_in_a_help_text_exists():
    """Examples in --help name files of the repository (layers/, examples/) that exist."""
    import re

    from netdef.cli import cli as group

    for name in [None, *group.commands]:
        text = run(*([name] if name else []), "--help").output
        for path in re.findall(r"\b(?:layers|examples)/[\w./-]+\.(?:cfg|yaml)", text):
            assert (ROOT / path).is_file(), (name, path)


@pytest.mark.parametrize("args, said", [
    (["check", "{missing}"], "no such definition file"),
    (["summary", "{missing}"], "no such definition file"),
    (["check-grads", "{missing}"], "no such definition file"),
    (["check", "{examples}/quickstart.cfg", "--params", "{missing}"], "no such params file"),
    (["check", "{folder}"], "a folder, not a file: give the definition file"),
    (["train", "{missing}"], "no such experiment file"),
    (["train", "--resume", "{missing}"], "no such run folder"),
    (["train", "--resume", "{examples}/quickstart.cfg"], "not a folder: give the run folder"),
    (["train", "{examples}/quickstart.cfg", "--init-from", "{missing}"],
     "no such checkpoint file or run folder"),
    (["plot-lr", "{missing}"], "no such experiment file"),
    (["ablate", "{missing}", "dropout"], "no such experiment file"),
    (["eval", "--model", "{missing}"], "no such checkpoint file or run folder"),
    (["predict", "--model", "{missing}", "{examples}/quickstart.cfg"],
     "no such checkpoint file or run folder"),
    (["predict", "--model", "{examples}/quickstart.cfg", "{missing}"], "no such image file"),
    (["show-filters", "{missing}"], "no such checkpoint file or run folder"),
    (["show-preds", "--model", "{missing}"], "no such checkpoint file or run folder"),
    (["eval", "--model", "{folder}"], "a folder with no checkpoint (ckpt.pt) in it"),
    (["train", "--resume", "{folder}"], "holds no checkpoint (ckpt.pt) to resume from"),
    (["predict", "--model", "{examples}/quickstart.cfg", "{folder}"],
     "a folder, not a file: give the image file"),
])
def test_a_missing_input_file_is_bad_input_exit_1_located(tmp_path, args, said):
    """The README's exit codes: 1 bad input (a file that is not there), 2 a bad command line;
    the message is located by the path, as every other file error (``PATH: error: …``)."""
    missing, folder = tmp_path / "nosuch.cfg", tmp_path / "empty"
    folder.mkdir()
    words = [a.format(missing=missing, folder=folder, examples=ROOT / "examples") for a in args]
    result = CliRunner().invoke(cli, words)
    named = next(w for w, a in zip(words, args, strict=True) if "{missing}" in a or "{folder}" in a
                 or a.endswith(".cfg") and "--resume" in args)
    cli_failed(result, said, joined=True)
    assert f"{named}: error: " in result.stderr.replace("\n", ""), result.stderr
    assert "Invalid value" not in result.stderr


@pytest.mark.parametrize("args", [["check", "--bogus", "x.cfg"], ["check"], ["train", "--nope"]])
def test_a_bad_command_line_still_exits_2(args):
    assert CliRunner().invoke(cli, args).exit_code == 2
