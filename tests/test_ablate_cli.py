"""``netdef ablate`` end to end on generated data (--quick), continuing in the same folder, and
one test per bad input (exit 1, a clear message, nothing trained)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from netdef.cli import cli

from ablatenets import ONE_TOWER, write_experiment
from conftest import cli_failed


@pytest.fixture(autouse=True)
def cache(eval_cache):
    return eval_cache


def netdef(*args, ok: bool = True):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=not ok)


def test_quick_end_to_end_then_continue_and_reuse(tmp_path):
    exp, out = write_experiment(tmp_path / "src"), tmp_path / "out"
    result = netdef("ablate", exp, "relu", "lrn", "ten-view", "--quick", "--show", "--out", out)
    assert result.exit_code == 0, result.output
    assert "-neuron=relu" in result.stdout and "-[rnorm1]" in result.stdout  # --show: diffs
    assert "3 runs (3 nets × 1 seed) of 1 epoch" in result.stdout
    assert "not separable at this budget" in result.stdout
    report = json.loads((out / "ablate.json").read_text())
    setting = report["setting"]
    assert (setting["epochs"], setting["seeds"], setting["classes"]) == (1, [0], 3)
    assert (setting["num_train"], setting["num_val"], setting["steps"]) == (60, 24, 3)
    assert setting["data"] == "builtin:shapes?classes=3&train=20&val=8"
    assert setting["wall_seconds"] > 0 and setting["train_seconds"] > 0
    assert setting["command"].startswith(f"netdef ablate {exp} relu lrn ten-view")
    claims = {c["claim"]: c["variants"] for c in report["claims"]}
    assert [v["variant"] for v in claims["lrn"]] == ["no-lrn"]
    assert claims["relu"][0]["metric"] == "steps_to_threshold"
    views = claims["ten-view"][0]["primary"]
    assert views["base"] == [report["base"]["runs"][0]["views"]["ten"]]
    assert all(v["primary"]["verdict"] == "not separable" for vs in claims.values() for v in vs)
    page = (out / "ablate.md").read_text()
    for text in ("**Data.**", "60 training and 24 validation images", "1 seed (0)",
                 "## lrn (§3.3)", "- rnorm1 (cmrnorm) removed; pool1 now reads conv1",
                 "![differences](differences.png)", "![relu](curves-relu.png)"):
        assert text in page
    for name in ("differences.png", "curves-relu.png", "curves-lrn.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG"
    assert (out / "runs" / "no-lrn" / "seed-0" / "ckpt.pt").is_file()

    more = netdef("ablate", exp, "relu", "lrn", "ten-view", "--quick", "--epochs", "2",
                  "--out", out)
    assert more.exit_code == 0, more.output
    assert more.stdout.count("resuming (") == 3 and "resuming at step 3" in more.stdout
    assert json.loads((out / "ablate.json").read_text())["setting"]["steps"] == 6

    again = netdef("ablate", exp, "lrn", "--quick", "--epochs", "2", "--out", out)
    assert again.exit_code == 0, again.output
    assert again.stdout.count("finished, reused") == 2 and "training:" not in again.stdout


def test_dry_run_writes_and_checks_the_variants_only(tmp_path):
    exp, out = write_experiment(tmp_path / "src"), tmp_path / "out"
    result = netdef("ablate", exp, "dropout", "overlap-pool", "--dry-run", "--out", out)
    assert result.exit_code == 0, result.output
    assert "dropout → no-dropout" in result.stdout
    assert "9 runs (3 nets × 3 seeds)" in result.stdout
    assert (out / "variants" / "no-dropout" / "net.cfg").is_file()
    assert not (out / "runs").exists()


@pytest.mark.parametrize("claims, message", [
    (["lrn", "relu", "bogus"], "error: unknown claim 'bogus' (expected one of relu, lrn,"),
    (["towers"], "claim 'towers': the net has one tower (every layer on device 0)"),
])
def test_bad_claims_exit_1(tmp_path, claims, message):
    exp, out = write_experiment(tmp_path / "src"), tmp_path / "out"
    result = netdef("ablate", exp, *claims, "--out", out)
    cli_failed(result, message)
    assert not out.exists()


def test_claim_that_cannot_apply_is_located(tmp_path):
    net = ONE_TOWER.replace("stride=2", "stride=1")
    exp = write_experiment(tmp_path / "src", net=net)
    result = netdef("ablate", exp, "overlap-pool", "--out", tmp_path / "out")
    cli_failed(result, "net.cfg:33:8: error: layer 'pool1': claim 'overlap-pool'",
               "stride=1")  # and the source line under the message


def test_no_claim_is_a_usage_error(tmp_path):
    result = netdef("ablate", write_experiment(tmp_path / "src"))
    cli_failed(result, "CLAIM", code=2)


def test_a_run_folder_from_other_files_is_refused_before_training(tmp_path):
    exp, out = write_experiment(tmp_path / "src"), tmp_path / "out"
    assert netdef("ablate", exp, "lrn", "--quick", "--out", out).exit_code == 0
    net = (tmp_path / "src" / "net.cfg")
    net.write_text(net.read_text().replace("outputs=16", "outputs=12"))
    result = netdef("ablate", exp, "lrn", "--quick", "--out", out)
    assert "training:" not in result.stdout
    cli_failed(result, "runs/base/seed-0: error: this run was trained with another definition",
               "runs/no-lrn/seed-0: error: this run was trained with another definition")
