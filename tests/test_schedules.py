"""Tests for netdef.schedules' epsW/epsB grammar: values, the written syntax, errors, round
trips (the A12 schedW/schedB grammar: tests/test_schedules_a12.py)."""


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from netdef.errors import NetdefError, Span
from netdef.schedules import (
    Const,
    Cosine,
    Dexp,
    Exp,
    Linear,
    Plateau,
    Warmup,
    format_schedule,
    lr_at,
    parse_schedule,
    plateau_drops,
    schedule_base,
)

DEXP = "dexp[base=0.01;tgtFactor=250;numSteps=4]"


# ---- values ---------------------------------------------------------------------------

@pytest.mark.parametrize("p, want", [(0.0, 0.01), (0.1, 0.01), (0.25, 0.01), (0.2501, 0.001587),
                                     (0.3, 0.001587), (0.5, 0.001587), (0.6, 0.000252),
                                     (0.75, 0.000252), (0.9, 0.00004), (1.0, 0.00004)])
def test_dexp_example(p, want):
    assert lr_at(parse_schedule(DEXP), p) == pytest.approx(want, rel=1e-3)


def test_dexp_one_step_is_final_rate():
    s = Dexp(base=0.01, tgt_factor=10, num_steps=1)
    assert lr_at(s, 0.0) == lr_at(s, 1.0) == pytest.approx(0.001)


@given(st.floats(0, 1), st.integers(1, 50))
def test_dexp_step_matches_cuda_convnet2_loop(p, n):
    # DiscreteExpParameterSchedule::getValue: the first i with p <= (i+1)/n, else the last.
    k = next((i for i in range(n) if p <= (i + 1) / n), n - 1)
    want = 0.01 / 250 if k == n - 1 else 0.01 * 250 ** (-k / (n - 1))
    assert lr_at(Dexp(base=0.01, tgt_factor=250, num_steps=n), p) == pytest.approx(want, rel=1e-12)


def test_dexp_many_steps_is_fast():
    s = Dexp(base=1, tgt_factor=2, num_steps=2**31 - 1)
    assert lr_at(s, 0.5) == pytest.approx(2 ** -0.5, rel=1e-6)
    assert lr_at(s, 1.0) == 0.5


def test_const_linear_exp():
    assert lr_at(parse_schedule("0.01"), 0.7) == 0.01
    assert lr_at(parse_schedule("const[base=0.02]"), 0.3) == 0.02
    lin = parse_schedule("linear[base=0.1;tgtFactor=10]")
    assert [lr_at(lin, p) for p in (0, 0.5, 1)] == pytest.approx([0.1, 0.055, 0.01])
    ex = parse_schedule("exp[base=0.1;tgtFactor=100]")
    assert [lr_at(ex, p) for p in (0, 0.5, 1)] == pytest.approx([0.1, 0.01, 0.001])


def test_progress_is_clamped():
    lin = Linear(base=0.1, tgt_factor=10)
    assert lr_at(lin, -3) == pytest.approx(0.1)
    assert lr_at(lin, 7) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        lr_at(lin, float("nan"))


def test_cosine():
    s = parse_schedule("cosine[base=0.1;final=0.01]")
    assert [lr_at(s, p) for p in (0, 0.5, 1)] == pytest.approx([0.1, 0.055, 0.01])
    assert lr_at(Cosine(base=0.1), 1.0) == pytest.approx(0.0, abs=1e-12)


def test_warmup():
    s = parse_schedule("warmup[length=0.05;then=cosine[base=0.1;final=0]]")
    inner = Cosine(base=0.1, final=0)
    assert lr_at(s, 0) == 0.0 and schedule_base(s) == 0.0
    assert lr_at(s, 0.025) == pytest.approx(0.5 * lr_at(inner, 0.025))
    assert lr_at(s, 0.05) == pytest.approx(lr_at(inner, 0.05))
    assert lr_at(s, 0.5) == pytest.approx(0.05)
    s2 = Warmup(length=0.5, start=0.2, then=Const(base=1.0))
    assert [lr_at(s2, p) for p in (0, 0.25, 0.5, 1)] == pytest.approx([0.2, 0.6, 1.0, 1.0])


def test_schedule_base():
    assert schedule_base(parse_schedule(DEXP)) == pytest.approx(0.01)
    assert schedule_base(Plateau(base=0.01)) == 0.01


# ---- plateau --------------------------------------------------------------------------

@pytest.mark.parametrize("hist, patience, drops", [
    ((), 1, 0),
    ((0.5,), 1, 0),
    ((0.5, 0.4, 0.3, 0.2), 1, 0),           # always improving
    ((0.5, 0.4, 0.4), 1, 1),                # equal is not an improvement
    ((0.5, 0.4, 0.45, 0.3), 1, 1),
    ((0.5, 0.6, 0.6), 1, 2),                # each stalled test drops again
    ((0.5, 0.6, 0.6), 2, 1),
    ((0.5, 0.6, 0.4, 0.6), 2, 0),           # improvement resets the count
    ((0.5, 0.6, 0.6, 0.6, 0.6, 0.6), 2, 2),
])
def test_plateau_drops(hist, patience, drops):
    s = Plateau(base=0.01, patience=patience)
    assert plateau_drops(s, hist) == drops
    assert lr_at(s, 0.5, hist) == pytest.approx(0.01 * 0.1 ** drops)


def test_plateau_min_floor_and_factor():
    s = parse_schedule("plateau[base=0.01;factor=0.5;patience=1;min=0.003]")
    assert lr_at(s, 0, [1, 1]) == pytest.approx(0.005)
    assert lr_at(s, 0, [1, 1, 1]) == pytest.approx(0.003)        # 0.0025 floored
    assert lr_at(s, 0, [1, 1, 1, 1, 1]) == pytest.approx(0.003)
    assert plateau_drops(Warmup(length=0.1, then=s), [1, 1, 1]) == 2
    assert plateau_drops(Const(base=1), [1, 1, 1]) == 0


def test_plateau_defaults():
    s = parse_schedule("plateau[base=0.01]")
    assert (s.factor, s.patience, s.min) == (0.1, 1, 0.0)


# ---- syntax ---------------------------------------------------------------------------

def test_any_order_any_case():
    want = Dexp(base=0.01, tgt_factor=250, num_steps=4)
    for text in ["dexp[base=0.01;tgtFactor=250;numSteps=4]",
                 "DEXP[NUMSTEPS=4;tgtfactor=250;Base=0.01]",
                 " Dexp [ numsteps = 4 ; base=1e-2 ; TgtFactor=250.0 ] ",
                 "dexp[numSteps=+4;tgtFactor=+250;base=.01]"]:
        assert parse_schedule(text) == want


def test_nested_and_kinds():
    s = parse_schedule("Warmup[THEN=warmup[then=plateau[base=1;patience=3];length=1];"
                       "length=0.05;start=0.1]")
    assert s == Warmup(length=0.05, start=0.1,
                       then=Warmup(length=1, then=Plateau(base=1, patience=3)))
    assert isinstance(parse_schedule("exp[base=1;tgtFactor=2]"), Exp)


def test_models_are_frozen_and_strict():
    s = Const(base=1)
    with pytest.raises(ValidationError):
        s.base = 2
    with pytest.raises(ValidationError):
        Const(base=1, extra=2)
    with pytest.raises(ValidationError):
        Plateau(base=1, factor=1.5)


ROUND_TRIP = [
    Const(base=0.01), Const(base=0), Linear(base=0.1, tgt_factor=10),
    Exp(base=1e-05, tgt_factor=3.5), Dexp(base=0.01, tgt_factor=250, num_steps=4),
    Plateau(base=0.01, factor=0.5, patience=3, min=1e-6), Cosine(base=0.1, final=0.001),
    Warmup(length=0.05, start=0.1, then=Warmup(length=1, then=Cosine(base=0.1))),
]


@pytest.mark.parametrize("s", ROUND_TRIP, ids=lambda s: s.kind)
def test_round_trip(s):
    assert parse_schedule(format_schedule(s)) == s


def test_format_canonical():
    assert format_schedule(Const(base=0.01)) == "0.01"
    assert format_schedule(parse_schedule("DEXP[numsteps=4;TGTFACTOR=250;base=0.01]")) == DEXP
    assert format_schedule(parse_schedule("warmup[length=0.05;then=cosine[base=0.1;final=0]]")) \
        == "warmup[length=0.05;start=0;then=cosine[base=0.1;final=0]]"


@given(st.builds(Dexp, base=st.floats(0, 1e6), tgt_factor=st.floats(1e-6, 1e6),
                 num_steps=st.integers(1, 10 ** 6)))
def test_round_trip_random(s):
    assert parse_schedule(format_schedule(s)) == s


# ---- errors ---------------------------------------------------------------------------

SPAN = Span("layers.cfg", 12, 7)


@pytest.mark.parametrize("text, message", [
    ("dexp[base=0.01;tgtFactor=250]",
     "schedule 'dexp' is missing 'numSteps' (expected dexp[base=..;tgtFactor=..;numSteps=..])"),
    ("dexpp[base=1]", "unknown schedule 'dexpp'; did you mean 'dexp'?"),
    ("zzz[base=1]", "unknown schedule 'zzz' (known: const, cosine, dexp, exp, linear, "
                    "plateau, warmup)"),
    ("exp[base=1;tgtFactor=abc]", "'tgtFactor' must be a number > 0 (got 'abc')"),
    ("exp[base=1;tgtFactor=0]", "'tgtFactor' must be a number > 0 (got '0')"),
    ("-0.5", "'base' must be a number >= 0 (got '-0.5')"),
    ("dexp[base=1;tgtFactor=2;numSteps=4.0]",  # integers are plain, as cuda-convnet2 required
     "'numSteps' must be an integer >= 1 and <= 2147483647 (got '4.0')"),
    ("plateau[base=1;patience=2.0]", "'patience' must be an integer >= 1 (got '2.0')"),
    ("dexp[base=1;tgtFactor=2;numSteps=2.5]",
     "'numSteps' must be an integer >= 1 and <= 2147483647 (got '2.5')"),
    ("dexp[base=1;tgtFactor=2;numSteps=0]",
     "'numSteps' must be an integer >= 1 and <= 2147483647 (got '0')"),
    ("dexp[base=1;tgtFactor=2;numSteps=1e300]",
     "'numSteps' must be an integer >= 1 and <= 2147483647 (got '1e300')"),
    ("plateau[base=1;factor=2]", "'factor' must be a number > 0 and <= 1 (got '2')"),
    ("warmup[length=0;then=1]", "'length' must be a number > 0 and <= 1 (got '0')"),
    ("exp[base=1e999;tgtFactor=2]", "'base' must be a finite number (got '1e999')"),
    ("dexp[base=1;tgtFactor=2;numSteps=3",
     "unbalanced brackets in 'dexp[base=1;tgtFactor=2;numSteps=3': missing ']'"),
    ("dexp base=1]", "unbalanced brackets in 'dexp base=1]': ']' without '['"),
    ("warmup[length=0.1;then=cosine[base=1]",
     "unbalanced brackets in 'warmup[length=0.1;then=cosine[base=1]': missing ']'"),
    ("exp[base=1;tgtFactr=2]",
     "schedule 'exp' has no parameter 'tgtFactr'; did you mean 'tgtFactor'?"),
    ("exp[base=1;qqq=2]",
     "schedule 'exp' has no parameter 'qqq' (expected exp[base=..;tgtFactor=..])"),
    ("exp[base=1;BASE=2;tgtFactor=2]", "duplicate parameter 'base' in schedule 'exp'"),
    ("", "empty schedule (expected a number or name[param=value;...])"),
    ("   ", "empty schedule (expected a number or name[param=value;...])"),
    ("exp[base=1;tgtFactor=2]x", "unexpected 'x' after ']' in 'exp[base=1;tgtFactor=2]x'"),
    ("exp[base=1;tgtFactor=2]]", "unexpected ']' after ']' in 'exp[base=1;tgtFactor=2]]'"),
    ("exp[base=1;tgtFactor]", "bad parameter 'tgtFactor' in schedule 'exp' (expected name=value)"),
    ("exp[base=1;;tgtFactor=2]", "bad parameter '' in schedule 'exp' (expected name=value)"),
    ("exp(base=1)", "expected '[' after schedule name 'exp' (got '(base=1)')"),
    ("[base=1]", "bad schedule '[base=1]' (expected a number or name[param=value;...])"),
    ("cosine", "schedule 'cosine' is missing 'base' (expected cosine[base=..])"),
    ("warmup[length=0.1;then=cosin[base=1]]", "unknown schedule 'cosin'; did you mean 'cosine'?"),
    ("warmup[length=0.1;then=]", "empty schedule (expected a number or name[param=value;...])"),
    ("jdexp[tgtFactor=2;numSteps=2]",
     "'jdexp' is a schedule of the 2012 code: write it in 'schedW'/'schedB', which multiply "
     "epsW/epsB (jdexp[tgtFactor=..,noiseStdev=..,numSteps=..])"),
    ("nan", "a rate must be a finite number (got 'nan')"),
    ("-inf", "a rate must be a finite number (got '-inf')"),
])
def test_bad_input(text, message):
    with pytest.raises(NetdefError) as info:
        parse_schedule(text, SPAN, "layer 'conv1': 'epsW'")
    (d,) = info.value.diagnostics
    assert d.span == SPAN and d.severity == "error"
    assert d.message == f"layer 'conv1': 'epsW': {message}"
    assert str(info.value) == f"layers.cfg:12:7: error: layer 'conv1': 'epsW': {message}"


def test_bad_input_without_what_or_span():
    with pytest.raises(NetdefError) as info:
        parse_schedule("dexpp[base=1]")
    (d,) = info.value.diagnostics
    assert d.span is None and d.message == "unknown schedule 'dexpp'; did you mean 'dexp'?"


def test_too_deep():
    text = "warmup[length=1;then=" * 40 + "1" + "]" * 40
    with pytest.raises(NetdefError, match="nested more than"):
        parse_schedule(text)


ALPHABET = st.sampled_from(list("[];=.,+-eE0123456789 ") + ["dexp", "then", "warmup", "base",
                                                             "tgtFactor", "numSteps", "cosine"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(ALPHABET, max_size=30).map("".join)))
def test_random_text_never_crashes(text):
    try:
        s = parse_schedule(text)
    except NetdefError as e:
        assert len(e.diagnostics) == 1
    else:
        assert parse_schedule(format_schedule(s)) == s
