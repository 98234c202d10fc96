"""The 2012 AlexNet code's schedW/schedB grammar: commas, fixed order, every parameter, names in
any case, ';' refused; values are multipliers of epsW/epsB; noise (1 + |z|·noiseStdev)."""

import math

import pytest

from netdef.errors import NetdefError
from netdef.schedules import (
    A12Default,
    A12Dexp,
    A12Exp,
    A12Jdexp,
    A12Linear,
    format_a12,
    format_schedule,
    lr_at,
    parse_a12,
    schedule_base,
)


@pytest.mark.parametrize("text, want", [
    ("default", A12Default()),
    ("DEFAULT", A12Default()),
    ("linear[tgtFactor=10,noiseStdev=0]", A12Linear(tgt_factor=10, noise_stdev=0)),
    ("exp[tgtFactor=100,noiseStdev=0]", A12Exp(tgt_factor=100, noise_stdev=0)),
    ("dexp[tgtFactor=250,noiseStdev=0,numSteps=4]",
     A12Dexp(tgt_factor=250, noise_stdev=0, num_steps=4)),
    ("jdexp[tgtFactor=250,noiseStdev=0.1,numSteps=4]",
     A12Jdexp(tgt_factor=250, noise_stdev=0.1, num_steps=4)),
    ("JDexp[TGTFACTOR=250,noisestdev=0.1,NumSteps=4]",
     A12Jdexp(tgt_factor=250, noise_stdev=0.1, num_steps=4)),
])
def test_the_2012_grammar(text, want):
    s = parse_a12(text)
    assert s == want
    assert parse_a12(format_a12(s)) == s == parse_a12(format_schedule(s))


@pytest.mark.parametrize("text, message", [
    ("jdexp[tgtFactor=10;noiseStdev=0.1;numSteps=3]",
     "the 2012 parser separates schedW/schedB parameters with ',' and refused ';': write "
     "jdexp[tgtFactor=10,noiseStdev=0.1,numSteps=3]"),
    ("dexp[tgtFactor=250,numSteps=4,noiseStdev=0]",
     "'dexp' takes its parameters in the 2012 parser's fixed order tgtFactor, noiseStdev, "
     "numSteps (got tgtFactor, numSteps, noiseStdev): write "
     "dexp[tgtFactor=250,noiseStdev=0,numSteps=4]"),
    ("linear[tgtFactor=10]",
     "'linear' needs every parameter, as the 2012 parser did (missing 'noiseStdev'): write "
     "linear[tgtFactor=10,noiseStdev=0]"),
    ("dexp[tgtFactor=250,noiseStdev=0,numSteps=4.0]", "'numSteps' must be an integer >= 1 "
                                                      "(got '4.0')"),
    ("exp[tgtFactor=0,noiseStdev=0]", "'tgtFactor' must be a number > 0 (got '0')"),
    ("exp[tgtFactor=2,noiseStdev=-1]", "'noiseStdev' must be a number >= 0 (got '-1')"),
    ("linear[base=1,tgtFactor=3,noiseStdev=0]",
     "'linear' in schedW/schedB has no 'base': it multiplies the layer's epsW/epsB "
     "(linear[tgtFactor=..,noiseStdev=..])"),
    ("exp[tgtFactr=2,noiseStdev=0]", "'exp' has no parameter 'tgtFactr'; did you mean "
                                     "'tgtFactor'? (exp[tgtFactor=..,noiseStdev=..])"),
    ("defualt", "unknown schedule 'defualt'; did you mean 'default'?"),
    ("default[]", "'default' takes no parameters (write just 'default')"),
    ("dexp", "'dexp' needs its parameters: dexp[tgtFactor=..,noiseStdev=..,numSteps=..]"),
    ("cosine[base=1]", "'cosine' is a schedule for epsW/epsB (cuda-convnet2's grammar); "
                       "schedW/schedB take the 2012 code's: default, linear[tgtFactor=..,"
                       "noiseStdev=..], exp[tgtFactor=..,noiseStdev=..], dexp[tgtFactor=..,"
                       "noiseStdev=..,numSteps=..], jdexp[tgtFactor=..,noiseStdev=..,numSteps=..]"),
    ("exp[tgtFactor=2,tgtFactor=2]", "'exp' needs every parameter, as the 2012 parser did "
                                     "(missing 'noiseStdev'): write exp[tgtFactor=2,noiseStdev=0]"),
])
def test_refused_as_the_2012_parser_refused(text, message):
    with pytest.raises(NetdefError) as info:
        parse_a12(text)
    assert info.value.diagnostics[0].message == message


def test_values_are_multipliers_of_eps():
    assert lr_at(A12Default(), 0.7) == 1.0
    lin = parse_a12("linear[tgtFactor=10,noiseStdev=0]")
    assert [lr_at(lin, p) for p in (0, 0.5, 1)] == pytest.approx([1, 0.55, 0.1])
    ex = parse_a12("exp[tgtFactor=100,noiseStdev=0]")
    assert [lr_at(ex, p) for p in (0, 0.5, 1)] == pytest.approx([1, 0.1, 0.01])
    dexp = parse_a12("dexp[tgtFactor=250,noiseStdev=0,numSteps=4]")
    assert [lr_at(dexp, p) for p in (0.2, 0.3, 0.6, 0.9)] == pytest.approx(
        [1, 250 ** (-1 / 3), 250 ** (-2 / 3), 1 / 250])
    assert schedule_base(dexp) == 1.0


def test_jdexp_jumps_past_each_midpoint():
    s = parse_a12("jdexp[tgtFactor=250,noiseStdev=0,numSteps=4]")
    r = [1, 250 ** (-1 / 3), 250 ** (-2 / 3), 1 / 250]
    assert lr_at(s, 0.15) == pytest.approx(r[0])          # the first step never jumps
    assert lr_at(s, 0.3) == pytest.approx(r[1])           # before the midpoint 0.375
    assert lr_at(s, 0.4) == pytest.approx(math.sqrt(r[1] * r[0]))   # past it: geometric mean
    assert lr_at(s, 0.7) == pytest.approx(math.sqrt(r[2] * r[1]))
    assert lr_at(s, 0.89) == pytest.approx(math.sqrt(r[3] * r[2]))  # past it, p < 0.9
    assert lr_at(s, 0.95) == pytest.approx(r[3])          # p >= 0.9: no jump


@pytest.mark.parametrize("text", ["linear[tgtFactor=10,noiseStdev=0.5]",
                                  "exp[tgtFactor=10,noiseStdev=0.5]",
                                  "dexp[tgtFactor=10,noiseStdev=0.5,numSteps=2]",
                                  "jdexp[tgtFactor=10,noiseStdev=0.5,numSteps=2]"])
def test_noise_multiplies_by_one_plus_abs_z_times_stdev(text):
    s = parse_a12(text)
    assert lr_at(s, 0.1, noise=-2.0) == pytest.approx(2.0 * lr_at(s, 0.1))
    assert lr_at(s, 0.1, noise=2.0) == pytest.approx(2.0 * lr_at(s, 0.1))
    quiet = parse_a12(text.replace("0.5", "0"))
    assert lr_at(quiet, 0.1, noise=3.0) == lr_at(quiet, 0.1)
