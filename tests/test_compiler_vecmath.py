"""MKL's vector math settled once per process before a net runs (netdef.compiler.vecmath)."""

from __future__ import annotations

import netdef
from netdef.compiler import compile as compile_module
from netdef.compiler import compile_net
from netdef.compiler.vecmath import VECTOR_MATH, settle_vector_math

# The unary functions ATen sends to MKL's VML for float and double (IMPLEMENT_VML_MKL in
# aten/src/ATen/cpu/vml.h): each must be settled, or a net using it can compute a chunk of its
# first call with a low-accuracy kernel in some processes.
ATEN_VML = {"abs", "acos", "asin", "atan", "cos", "cosh", "erf", "erfc", "erfinv", "exp",
            "expm1", "lgamma", "log", "log10", "log1p", "sin", "sinh", "sqrt", "tan", "tanh"}


def test_every_vml_function_is_settled():
    assert ATEN_VML <= set(VECTOR_MATH)


def test_settling_calls_each_function_once_per_process():
    names = settle_vector_math()
    assert names == VECTOR_MATH
    assert settle_vector_math() is names  # cached: later calls do nothing


def test_compiling_a_net_settles_vector_math_first(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(compile_module, "settle_vector_math", lambda: calls.append(1))
    cfg = tmp_path / "net.cfg"
    cfg.write_text("[data]\ntype=data\ndataIdx=0\n\n[labels]\ntype=data\ndataIdx=1\n\n"
                   "[fc]\ntype=fc\ninputs=data\noutputs=3\ninitW=0.01\n\n"
                   "[probs]\ntype=softmax\ninputs=fc\n\n"
                   "[logprob]\ntype=cost.logreg\ninputs=labels,probs\n")
    checked = netdef.load(cfg, input_size=4, input_channels=1)
    compile_net(checked, devices="cpu")
    assert calls == [1]
