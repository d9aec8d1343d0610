"""app.statistics against printed t tables, closed forms of the t distribution and hand
recomputation of means, intervals and paired tests."""

import math

import pytest

from app import statistics as S

# Two-sided 95 % critical values t_{0.975, df}, df = 1..30, as printed in standard t tables.
T_975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip
# Other columns of the same tables: (p, df, t_p).
T_OTHER = [
    (0.95, 1, 6.314), (0.95, 5, 2.015), (0.95, 10, 1.812), (0.95, 30, 1.697),
    (0.995, 1, 63.657), (0.995, 4, 4.604), (0.995, 10, 3.169), (0.995, 30, 2.750),
    (0.90, 3, 1.638), (0.99, 8, 2.896),
]  # fmt: skip


@pytest.mark.parametrize("df", range(1, 31))
def test_quantile_matches_the_printed_table(df):
    assert S.t_quantile(0.975, df) == pytest.approx(T_975[df - 1], abs=5e-4)


@pytest.mark.parametrize(("p", "df", "t"), T_OTHER)
def test_other_quantiles_match_the_printed_table(p, df, t):
    assert S.t_quantile(p, df) == pytest.approx(t, abs=5e-4)
    assert S.t_quantile(1 - p, df) == pytest.approx(-t, abs=5e-4)


def test_quantiles_to_more_digits():
    # Published to 8+ digits; and with many degrees of freedom t tends to the normal's 1.959964.
    assert S.t_quantile(0.975, 1) == pytest.approx(12.70620474, abs=1e-7)
    assert S.t_quantile(0.975, 5) == pytest.approx(2.57058184, abs=1e-7)
    assert S.t_quantile(0.975, 30) == pytest.approx(2.04227246, abs=1e-7)
    assert S.t_quantile(0.975, 1e7) == pytest.approx(1.95996398, abs=1e-6)


@pytest.mark.parametrize("t", [-30.0, -3.0, -1.0, -0.2, 0.0, 0.5, 1.7, 4.0, 250.0])
def test_cdf_matches_closed_forms(t):
    # df = 1 is the Cauchy distribution; df = 2 and 4 have closed forms too.
    assert S.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-13)
    assert S.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-13)
    s = 1 + t * t / 4
    df4 = 0.5 + 3 / 8 * t / math.sqrt(s) * (1 - t * t / (12 * s))
    assert S.t_cdf(t, 4) == pytest.approx(df4, abs=1e-13)


@pytest.mark.parametrize("p", [0.6, 0.8, 0.9, 0.975, 0.999])
def test_quantile_matches_closed_forms(p):
    assert S.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-11)
    assert S.t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-11)


@pytest.mark.parametrize("df", [1, 3, 7, 29, 200])
def test_cdf_and_quantile_invert_each_other(df):
    for p in (0.01, 0.3, 0.5, 0.77, 0.975):
        assert S.t_cdf(S.t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)
    assert S.t_two_sided_p(T_975[min(df, 30) - 1], min(df, 30)) == pytest.approx(0.05, abs=2e-4)


def test_betainc_edges_and_symmetry():
    assert S.betainc(2.0, 3.0, 0.0) == 0.0
    assert S.betainc(2.0, 3.0, 1.0) == 1.0
    # I_x(1, 1) = x; I_x(a, b) = 1 - I_{1-x}(b, a); I_x(2, 1) = x^2.
    assert S.betainc(1.0, 1.0, 0.3) == pytest.approx(0.3, abs=1e-14)
    assert S.betainc(2.0, 1.0, 0.3) == pytest.approx(0.09, abs=1e-14)
    assert S.betainc(2.5, 0.5, 0.7) == pytest.approx(1 - S.betainc(0.5, 2.5, 0.3), abs=1e-14)
    with pytest.raises(ValueError):
        S.betainc(1.0, 1.0, 1.5)


def test_mean_interval_by_hand():
    iv = S.mean_interval({0: 0.877, 1: 0.876, 2: 0.875})
    assert iv.n == 3 and iv.seeds == [0, 1, 2] and iv.left_out == [] and iv.reason is None
    assert iv.mean == pytest.approx(0.876, abs=1e-15)
    assert iv.sd == pytest.approx(0.001, rel=1e-9)  # deviations -1e-3, 0, 1e-3; ss / 2
    assert iv.se == pytest.approx(0.001 / math.sqrt(3), rel=1e-9)
    half = 4.302652729749 * 0.001 / math.sqrt(3)
    assert iv.low == pytest.approx(0.876 - half, abs=1e-12)
    assert iv.high == pytest.approx(0.876 + half, abs=1e-12)


def test_failed_repeats_are_left_out_and_named():
    iv = S.mean_interval({3: 0.5, 0: 0.7, 1: None, 2: float("nan")})
    assert iv.seeds == [0, 3] and iv.left_out == [1, 2] and iv.n == 2
    assert iv.mean == pytest.approx(0.6)


def test_one_and_no_value():
    one = S.mean_interval({4: 0.9, 5: None})
    assert (one.n, one.mean, one.low, one.high, one.sd) == (1, 0.9, None, None, None)
    assert one.reason == "one repeat: no interval can be given" and one.left_out == [5]
    none = S.mean_interval({0: None})
    assert none.n == 0 and none.mean is None and none.low is None and none.reason == S.NO_REPEAT


def test_zero_variance_gives_a_zero_width_interval_at_the_value():
    iv = S.mean_interval({0: 0.1, 1: 0.1, 2: 0.1})
    assert (iv.mean, iv.low, iv.high, iv.sd, iv.se) == (0.1, 0.1, 0.1, 0.0, 0.0)
    assert iv.reason == S.ZERO_VARIANCE


ARM = {0: 0.80, 1: 0.82, 2: 0.84, 3: 0.81, 4: 0.83}
REF = {0: 0.79, 1: 0.80, 2: 0.81, 3: 0.80, 4: 0.80}


def test_paired_difference_by_hand():
    # Differences 0.01, 0.02, 0.03, 0.01, 0.03: mean 0.02, sd 0.01, se 0.01 / sqrt 5, t = 2 sqrt 5.
    d = S.paired_difference(ARM, REF)
    assert d.n == 5 and d.seeds == [0, 1, 2, 3, 4] and d.left_out == []
    assert d.mean == pytest.approx(0.02, abs=1e-15)
    assert d.sd == pytest.approx(0.01, rel=1e-9)
    se = 0.01 / math.sqrt(5)
    assert d.low == pytest.approx(0.02 - 2.7764451052 * se, abs=1e-11)
    assert d.high == pytest.approx(0.02 + 2.7764451052 * se, abs=1e-11)
    t = 2 * math.sqrt(5)
    s = 1 + t * t / 4  # df = 4 closed form of the cdf
    p = 2 * (1 - (0.5 + 3 / 8 * t / math.sqrt(s) * (1 - t * t / (12 * s))))
    assert d.p_value == pytest.approx(p, rel=1e-8)
    assert 0.01 < d.p_value < 0.02  # between the table's t_{0.995,4} = 4.604 and t_{0.99,4} = 3.747
    assert d.significant is True
    assert d.values[2] == pytest.approx(0.03)


def test_paired_p_with_three_seeds_by_closed_form():
    d = S.paired_difference({0: 1.0, 1: 2.0, 2: 4.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    t = (7 / 3) / (math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2) / 3**0.5)
    assert d.p_value == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-10)
    assert d.significant is False


def test_the_test_is_symmetric_in_the_arms():
    a, b = S.paired_difference(ARM, REF), S.paired_difference(REF, ARM)
    assert a.p_value == pytest.approx(b.p_value, rel=1e-12)
    assert a.mean == pytest.approx(-b.mean) and a.low == pytest.approx(-b.high)


def test_pairing_uses_only_seeds_both_arms_finished():
    arm = dict(ARM) | {5: 0.9, 1: None}
    ref = dict(REF) | {6: 0.7}
    d = S.paired_difference(arm, ref)
    assert d.seeds == [0, 2, 3, 4] and d.left_out == [1, 5, 6]
    assert d.mean == pytest.approx((0.01 + 0.03 + 0.01 + 0.03) / 4)


def test_zero_variance_p_value_rule():
    same = S.paired_difference({0: 0.5, 1: 0.6}, {0: 0.5, 1: 0.6})
    assert (same.mean, same.low, same.high, same.p_value, same.significant) == (
        0.0, 0.0, 0.0, 1.0, False
    )  # fmt: skip
    shifted = S.paired_difference({0: 1.5, 1: 2.5, 2: 3.5}, {0: 1.0, 1: 2.0, 2: 3.0})
    assert shifted.mean == 0.5 and shifted.low == shifted.high == 0.5
    assert shifted.p_value == 0.0 and shifted.significant is True


def test_one_paired_seed_has_no_test():
    d = S.paired_difference({0: 0.9, 1: 0.8}, {0: 0.85, 1: None})
    assert d.n == 1 and d.p_value is None and d.significant is None and d.low is None
    assert d.left_out == [1]


def test_sentences():
    d = S.paired_difference(
        {0: 0.880, 1: 0.885, 2: 0.870, 3: 0.879, 4: 0.881},
        {0: 0.876, 1: 0.880, 2: 0.872, 3: 0.874, 4: 0.877},
    )
    # Differences 0.4, 0.5, -0.2, 0.5, 0.4 points: mean 0.32, CI about -0.046 to 0.686.
    assert S.sentence("Lasso", "Original", d) == (
        "Lasso vs Original: +0.3 points (95 % CI -0.0 to +0.7), not significant over 5 seeds"
    )
    # 2.0 -+ 2.776 * 1 / sqrt 5 = 2.0 -+ 1.24 points.
    assert S.sentence("L2", "Original", S.paired_difference(ARM, REF)) == (
        "L2 vs Original: +2.0 points (95 % CI +0.8 to +3.2), significant over 5 seeds"
    )
    one = S.paired_difference({0: 0.875, 1: 0.9}, {0: 0.879})
    assert S.sentence("Lasso", "Original", one) == (
        "Lasso vs Original: -0.4 points; one repeat: no interval can be given"
        " (seed 1 left out: not finished in both arms)."
    )
    none = S.paired_difference({0: None}, {0: 0.8, 1: 0.7})
    assert S.sentence("A", "B", none) == (
        "A vs B: no seed finished in both arms (seeds 0, 1 left out: not finished in both arms)."
    )


def test_sentence_in_other_units():
    d = S.paired_difference({0: 0.30, 1: 0.10, 2: 0.20}, {0: 0.50, 1: 0.40, 2: 0.45})
    text = S.sentence("WD 1e-4", "WD 0", d, scale=1.0, unit="", digits=2)
    assert text.startswith("WD 1e-4 vs WD 0: -0.25 (95 % CI -0.")
    assert text.endswith("significant over 3 seeds")


PATH = {
    0.0: [0.80, 0.82, 0.81],
    1e-4: [0.83, 0.84, 0.82],  # best: mean 0.83, se 0.01 / sqrt 3 = 0.00577
    1e-3: [0.825, 0.83, 0.82],  # mean 0.825 >= 0.83 - 0.00577: within one se
    1e-2: [0.70, 0.72, 0.71],
}


def test_one_standard_error_rule_by_hand():
    r = S.one_standard_error(PATH)
    assert r.best == 1e-4 and r.best_mean == pytest.approx(0.83)
    assert r.best_se == pytest.approx(0.01 / math.sqrt(3))
    assert r.threshold == pytest.approx(0.83 - 0.01 / math.sqrt(3))
    assert r.chosen == 1e-3 and r.reason is None
    assert list(r.means) == [0.0, 1e-4, 1e-3, 1e-2]


def test_one_standard_error_rule_for_a_loss_and_with_failures():
    loss = {lam: [1 - v for v in vals] for lam, vals in PATH.items()}
    loss[1e-1] = [None, None]  # every repeat failed: skipped
    loss[1e-3] = {0: 1 - 0.825, 1: None, 2: 1 - 0.8249}
    r = S.one_standard_error(loss, higher_is_better=False)
    assert r.best == 1e-4 and r.chosen == 1e-3 and 1e-1 not in r.means
    assert r.threshold == pytest.approx(0.17 + 0.01 / math.sqrt(3))


def test_one_standard_error_rule_degenerate():
    single = S.one_standard_error({0.0: [0.8], 1e-3: [0.8], 1e-2: [0.79]})
    # A tie goes to the larger lambda; one repeat has no se, so the rule keeps the best.
    assert single.best == 1e-3 and single.chosen == 1e-3 and single.best_se is None
    assert single.reason == S.ONE_REPEAT
    with pytest.raises(ValueError):
        S.one_standard_error({0.0: [None]})


def test_results_serialize_to_plain_dicts():
    d = S.paired_difference(ARM, REF).to_dict()
    assert d["n"] == 5 and d["values"][0] == pytest.approx(0.01) and "p_value" in d
    assert S.one_standard_error(PATH).to_dict()["chosen"] == 1e-3
