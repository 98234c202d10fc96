"""`netdef train` on the terminal: Ctrl-C acknowledged at once and the real resume command,
a resume that needs only the run folder (its recorded experiment and overrides), and an
explicit override on resume winning and shown. stdout and stderr are checked apart."""

from __future__ import annotations

import os
import signal

import pytest
import yaml
from click.testing import CliRunner

from netdef.cli import cli
from netdef.cli.screen import Screen

from trainnets import write_experiment

SHAPES = "builtin:shapes?train=16&val=8&classes=4"


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.getbasetemp() / "netdef-cache"
    monkeypatch.setenv("NETDEF_CACHE", str(root))
    return root


def netdef(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def ctrl_c_at(monkeypatch, step: int) -> None:
    """A real SIGINT to this process when the display hears of batch ``step``."""
    seen = Screen.on_BatchDone

    def on_batch(self, e):
        seen(self, e)
        if e.step == step:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Screen, "on_BatchDone", on_batch)


def test_resume_needs_only_the_run_folder(tmp_path, monkeypatch):
    # the experiment's own data folder does not exist: the run trains on --data builtin:shapes
    exp = write_experiment(tmp_path, workers=0, log_freq=1, data="no/such/folder")
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        ctrl_c_at(m, 3)
        stopped = netdef("train", exp, "--data", SHAPES)
    assert stopped.exit_code == 130, stopped.output
    err = stopped.stderr
    assert "Ctrl-C: stopping after this batch, then saving" in err
    assert err.index("stopping after this batch") < err.index("interrupted (Ctrl-C) at step 3")
    assert f"Continue with:\n  netdef train --resume {run}\n" in err
    assert "EXPERIMENT" not in stopped.output
    record = yaml.safe_load((run / "run.yaml").read_text())
    assert record["overrides"] == {"data": SHAPES}

    resumed = netdef("train", "--resume", run)  # no experiment, no --data
    assert resumed.exit_code == 0, resumed.output
    out = resumed.stdout
    assert f"resuming {run}: {exp} data={SHAPES} (recorded)\n" in out
    assert "resuming at step 3" in out and "done in" in out and "16 steps" in out


def test_an_override_on_resume_wins_and_is_shown(tmp_path, monkeypatch):
    exp = write_experiment(tmp_path, workers=0, log_freq=1, epochs=1)
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        ctrl_c_at(m, 2)
        assert netdef("train", exp, "--epochs", "1").exit_code == 130
    resumed = netdef("train", "--resume", run, "epochs=2")
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming {run}: {exp} (recorded), epochs=2 (given, was epochs=1)\n" in resumed.stdout
    assert "done in" in resumed.stdout and "16 steps" in resumed.stdout
    assert yaml.safe_load((run / "run.yaml").read_text())["overrides"] == {"epochs": "2"}


def test_train_without_experiment_or_resume_is_a_usage_error(tmp_path):
    r = CliRunner().invoke(cli, ["train"])
    assert r.exit_code == 2 and "give an EXPERIMENT file" in r.stderr
    r = CliRunner().invoke(cli, ["train", str(tmp_path / "none.cfg")])  # bad input, not usage
    assert r.exit_code == 1 and "none.cfg: error: no such experiment file" in r.stderr


def test_resume_of_a_folder_without_a_record_says_what_to_do(tmp_path):
    exp = write_experiment(tmp_path, workers=0)
    assert netdef("train", exp, "epochs=1").exit_code == 0
    (tmp_path / "run" / "run.yaml").write_text("- not\n- a record\n")
    r = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "run")])
    assert r.exit_code == 1 and r.stdout == ""
    assert (
        "run.yaml: error: not a run record" in r.stderr
        and "netdef train EXPERIMENT --resume" in r.stderr
    )


def test_schema_and_shape_errors_are_reported_together(tmp_path):
    """As `netdef check` does: a bad value in one layer does not hide a shape error in another."""
    exp = write_experiment(tmp_path)
    net = tmp_path / "tiny.cfg"
    net.write_text(net.read_text().replace("channels=8", "channels=7")       # pool1: shape
                   .replace("outputs=16", "outputs=sixteen"))                # fc1: schema
    r = netdef("train", exp)
    assert r.exit_code == 1 and r.stdout == ""
    assert "layer 'pool1': input 1 has 8 channels (8×9×9), 'channels' says 7" in r.stderr
    assert "layer 'fc1': 'outputs' must be an integer (got 'sixteen')" in r.stderr
    assert "2 errors in" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()  # nothing packed or written before the errors


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_group_stops_cleanly_with_workers(tmp_path, signum):
    """Ctrl-C in a terminal (or SIGTERM from a job scheduler) reaches every process of the
    group, the DataLoader's workers too: the workers ignore it (forked, they would otherwise
    run the main process's handler and each say it is stopping), the main process says so
    once, stops after the batch in flight and saves, and nobody prints a traceback."""
    import subprocess
    import sys

    exp = write_experiment(tmp_path, workers=2, log_freq=1, epochs=200)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each progress line as it is written
    proc = subprocess.Popen([sys.executable, "-m", "netdef", "train", str(exp)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        for line in proc.stdout:  # "epoch 1 batch 2/8: …": the workers are running
            if " batch " in line:
                break
        os.killpg(proc.pid, signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.count("stopping after this batch") == 1, err
    assert "interrupted" in err and (tmp_path / "run" / "ckpt.pt").is_file()
