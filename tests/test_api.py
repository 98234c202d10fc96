"""The Python API as the README shows it: its snippet runs as written, and a wrong input size
is a clear error naming the expected shape (not a bare reshape RuntimeError)."""

from __future__ import annotations

import re

import pytest
import torch

import netdef

from conftest import LAYERS, ROOT


def test_the_readme_python_snippet_runs(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", readme, re.S)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["scores"].shape == (8, 10)
    assert set(scope["losses"]) == {"logprob"}


def test_a_wrong_input_size_names_the_expected_shape():
    net = netdef.compile_net(netdef.load(LAYERS / "quickstart.cfg"), devices="cpu")  # 224
    with pytest.raises(netdef.NetdefError,
                       match=r"images of shape \(2, 3, 56, 56\): this net reads "
                             r"\(N, 3, 224, 224\).*input_size=S"):
        net(torch.zeros(2, 3, 56, 56))
    with pytest.raises(ValueError):  # also a ValueError, for code that catches those
        net.costs(torch.zeros(2, 56, 56), torch.zeros(2, dtype=torch.long))


def test_input_size_and_experiment_files():
    assert netdef.load(LAYERS / "quickstart.cfg", input_size=56).input_size == 56
    assert netdef.load(ROOT / "examples" / "quickstart.cfg").input_size == 56  # inner-size
    assert netdef.load(LAYERS / "quickstart.cfg").input_size == 224
