"""The paper's two-tower AlexNet trains a few steps at 224 on builtin:shapes (slow)."""

from __future__ import annotations

import pytest

from netdef.train import Message, Progress, TrainOptions, train

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.xfail(reason="with layers/alexnet-2gpu*.cfg as written the nll climbs (7.7, 11.4, "
                          "… 45 over 6 steps of 16 images): rates/initW need tuning; see issue 5",
                   strict=False)
def test_alexnet_two_towers_loss_goes_down(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))
    events = []
    overrides = {"data": "builtin:shapes?train=10&val=2", "epochs": "1", "batch-size": "16",
                 "devices": "cpu", "workers": "0", "log-freq": "1",
                 "save": str(tmp_path / "run")}
    train(TrainOptions(str(ROOT / "examples" / "alexnet.cfg"), overrides),
          on_event=events.append, handle_signals=False)
    nll = [e.nll for e in events if isinstance(e, Progress)]
    assert len(nll) == 6  # 100 images / 16
    assert sum(nll[-2:]) / 2 < sum(nll[:2]) / 2
    assert any("1000 outputs for 10 classes" in e.text for e in events if isinstance(e, Message))
