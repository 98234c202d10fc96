"""The paper's two-tower AlexNet trains a few steps at 224 on builtin:shapes (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdef.train import Message, Progress, TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]
BATCH = 16


@pytest.mark.slow
def test_alexnet_two_towers_loss_goes_down(tmp_path, monkeypatch):
    """The paper's definition, its params with the rates scaled to the small batch (the paper's
    0.01 is for 128 images; 16 images take 0.01·16/128, the linear scaling rule), a few passes
    over 50 images: the training loss must fall."""
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))
    params = (ROOT / "layers" / "alexnet-2gpu-params.cfg").read_text()
    scaled = params.replace("base=0.01;", f"base={0.01 * BATCH / 128:g};")
    assert scaled != params
    (tmp_path / "params.cfg").write_text(scaled)
    events = []
    overrides = {"data": "builtin:shapes?train=5&val=1", "epochs": "3",
                 "batch-size": str(BATCH), "devices": "cpu", "workers": "0", "log-freq": "1",
                 "color-noise": "0", "params": str(tmp_path / "params.cfg"),
                 "save": str(tmp_path / "run")}
    train(TrainOptions(str(ROOT / "examples" / "alexnet.cfg"), overrides=overrides),
          on_event=events.append, handle_signals=False)
    nll = [e.nll for e in events if isinstance(e, Progress)]
    assert len(nll) == 3 * (50 // BATCH)
    assert sum(nll[-2:]) / 2 < sum(nll[:2]) / 2, nll
    assert any("1000 outputs for 10 classes" in e.text for e in events if isinstance(e, Message))
