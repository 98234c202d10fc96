"""The verdict on a comparison: separable only outside the seed-to-seed spread (a t-test)."""

from __future__ import annotations

import math

import pytest

from netdef.ablate.stats import compare, t975


def test_a_clear_difference_has_the_papers_sign():
    c = compare([0.30, 0.31, 0.29], [0.40, 0.41, 0.39])
    assert c.verdict == "paper's sign" and c.delta == pytest.approx(0.10)
    assert c.se == pytest.approx(math.sqrt(2 * 0.01 ** 2 / 3))
    assert c.margin == pytest.approx(t975(4) * c.se)  # equal spreads: Welch's df is 4
    assert c.to_dict()["base_sd"] == pytest.approx(0.01)


def test_the_opposite_sign_is_said_plainly():
    assert compare([0.40, 0.41, 0.39], [0.30, 0.31, 0.29]).verdict == "opposite sign"


def test_a_difference_within_the_spread_is_not_separable():
    c = compare([0.30, 0.36, 0.24], [0.33, 0.39, 0.27])  # Δ = 3 pp, sd = 6 pp
    assert c.verdict == "not separable" and "within the seed-to-seed spread" in c.reason


def test_one_seed_separates_nothing():
    c = compare([0.30], [0.60])
    assert c.verdict == "not separable" and c.delta == pytest.approx(0.30)
    assert c.reason.startswith("one seed")


def test_paired_differences_see_through_the_seed_spread():
    base, variant = [0.20, 0.40, 0.60], [0.22, 0.41, 0.62]
    assert compare(base, variant).verdict == "not separable"
    assert compare(base, variant, paired=True).verdict == "paper's sign"


def test_identical_numbers_are_not_a_difference():
    assert compare([0.5, 0.5], [0.5, 0.5], paired=True).verdict == "not separable"


def test_steps_never_reached_by_the_variant():
    c = compare([120, 130, 110], [None, None, None], limit=600)
    assert c.verdict == "paper's sign" and c.delta is None
    assert "no variant run did within 600 steps" in c.reason
    assert compare([120], [None], limit=600).verdict == "not separable"


def test_steps_reached_by_neither_or_by_some():
    assert "neither reached" in compare([None, None], [None, None], limit=60).reason
    mixed = compare([100, None], [300, 310])
    assert mixed.verdict == "not separable" and "1/2 base" in mixed.reason


def test_steps_ratio():
    assert compare([100, 100], [600, 600]).ratio == pytest.approx(6.0)


def test_t_table():
    assert t975(1) == pytest.approx(12.706) and t975(4) == pytest.approx(2.776)
    assert t975(3.7) == t975(3)  # a fractional df rounds down: the stricter value
    assert t975(1000) == pytest.approx(1.96)
