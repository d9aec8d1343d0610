"""Statistics over repeats (seeds): mean and 95 % t-interval, the paired difference against a
reference arm, the plain sentence that reports it, and the one-standard-error rule of a sweep.

Pure Python (the web side loads neither torch nor scipy). The Student t distribution comes from
the regularized incomplete beta function, evaluated by its continued fraction (Numerical Recipes,
`betacf`), accurate to about 1e-12 over the degrees of freedom used here.

Values come keyed by seed, so a failed or cancelled repeat (None, or a NaN) is left out and
named, and a paired difference uses only the seeds both arms finished.

Degenerate cases, each a plain rule:
- no value: mean, bounds and p-value are None; `reason` says no repeat finished.
- one value: the mean is that value; bounds and p-value are None; `reason` says one repeat gives
  no interval.
- zero variance (two or more values, all equal): the interval has zero width at the mean. The
  p-value of a paired difference is 1.0 when the difference is 0 on every seed (no evidence of a
  difference) and 0.0 when it is the same non-zero value on every seed (t is infinite; scipy would
  return nan, which no table can show).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

CONFIDENCE = 0.95
ALPHA = 0.05  # two-sided significance level, dual to the 95 % interval
_UPPER = 0.975  # the t quantile of the 95 % interval's upper end
_EPS = 3e-16
_TINY = 1e-300
_MAX_ITER = 300

NO_REPEAT = "no repeat finished"
ONE_REPEAT = "one repeat: no interval can be given"
ZERO_VARIANCE = "every repeat gave the same value: the interval has zero width"


# --- Student t distribution ----------------------------------------------------------------------


def _lentz(aa: float, c: float, d: float) -> tuple[float, float]:
    """One modified-Lentz update of the continued fraction's (c, d) by the coefficient aa."""
    d = 1.0 + aa * d
    c = 1.0 + aa / c
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    return (c if abs(c) > _TINY else _TINY), d


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz), as NR's betacf."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        c, d = _lentz(m * (b - m) * x / ((qam + m2) * (a + m2)), c, d)
        h *= d * c
        c, d = _lentz(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), c, d)
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must lie in [0, 1], not {x}")
    if x in (0.0, 1.0):
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry
    # I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's T with df degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's T with df degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    tail = 0.5 * t_two_sided_p(t, df)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p: bisection on t_cdf, to float precision."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, not {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --- Intervals over seeds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """Mean over the seeds that finished, with its 95 % Student t interval."""

    n: int
    seeds: list[int]  # the seeds used, sorted
    left_out: list[int]  # seeds given without a value (failed or cancelled repeats), sorted
    mean: float | None
    sd: float | None  # sample standard deviation (n - 1); None below two values
    se: float | None  # sd / sqrt(n)
    low: float | None
    high: float | None
    reason: str | None  # why there is no (or a zero-width) interval; None otherwise

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Difference(Interval):
    """Paired difference arm - reference over the seeds both finished, with a paired t-test."""

    p_value: float | None = None
    significant: bool | None = None  # p < ALPHA; None without a test
    values: dict[int, float] = field(default_factory=dict)  # per-seed difference


def _finite(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _split(values: Mapping[int, float | None]) -> tuple[dict[int, float], list[int]]:
    kept = {s: float(v) for s, v in values.items() if _finite(v)}
    return dict(sorted(kept.items())), sorted(s for s in values if s not in kept)


def _describe(kept: dict[int, float], left_out: list[int]) -> dict:
    """The fields of an Interval for the values kept."""
    xs = list(kept.values())
    n = len(xs)
    base = {"n": n, "seeds": list(kept), "left_out": left_out}
    if n == 0:
        return base | dict(mean=None, sd=None, se=None, low=None, high=None, reason=NO_REPEAT)
    if n == 1:
        return base | dict(mean=xs[0], sd=None, se=None, low=None, high=None, reason=ONE_REPEAT)
    if max(xs) == min(xs):  # exact, so the mean is the value itself, not a rounded sum
        m = xs[0]
        return base | dict(mean=m, sd=0.0, se=0.0, low=m, high=m, reason=ZERO_VARIANCE)
    mean = math.fsum(xs) / n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    se = sd / math.sqrt(n)
    half = t_quantile(_UPPER, n - 1) * se
    return base | dict(mean=mean, sd=sd, se=se, low=mean - half, high=mean + half, reason=None)


def mean_interval(values: Mapping[int, float | None]) -> Interval:
    """Mean and 95 % t-interval of one arm's metric, keyed by seed; None or NaN is left out."""
    return Interval(**_describe(*_split(values)))


def paired_difference(
    arm: Mapping[int, float | None], reference: Mapping[int, float | None]
) -> Difference:
    """arm - reference, paired by seed, over the seeds both arms finished.

    `left_out` names every seed either arm has without the other (or without a value).
    """
    a, a_out = _split(arm)
    r, r_out = _split(reference)
    both = sorted(a.keys() & r.keys())
    diffs = {s: a[s] - r[s] for s in both}
    left_out = sorted(set(a_out) | set(r_out) | (a.keys() ^ r.keys()))
    fields_ = _describe(diffs, left_out)
    p = _paired_p(fields_)
    significant = None if p is None else p < ALPHA
    return Difference(**fields_, p_value=p, significant=significant, values=diffs)


def _paired_p(d: dict) -> float | None:
    if d["n"] < 2:
        return None
    if d["se"] == 0.0:
        return 1.0 if d["mean"] == 0.0 else 0.0
    return t_two_sided_p(d["mean"] / d["se"], d["n"] - 1)


# --- The sentence --------------------------------------------------------------------------------


def _signed(value: float, digits: int) -> str:
    # A negative value that rounds to zero keeps its sign ("-0.0"): a bound just below zero must
    # not read as one on it. Only an exact zero (+0.0 turns -0.0 into 0.0) reads "+0.0".
    return f"{value + 0.0:+.{digits}f}"


def _seeds_phrase(seeds: Sequence[int]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(s) for s in seeds)


def sentence(
    name: str,
    reference: str,
    diff: Difference,
    scale: float = 100.0,
    unit: str = "points",
    digits: int = 1,
) -> str:
    """One plain sentence for an arm against the reference, e.g.
    "Lasso vs Original: +0.4 points (95 % CI -0.2 to +1.0), not significant over 5 seeds".

    scale multiplies the difference (100: accuracy as a fraction -> percentage points).
    """
    head = f"{name} vs {reference}:"
    left = f" ({_seeds_phrase(diff.left_out)} left out: not finished in both arms)"
    tail = left if diff.left_out else ""
    if diff.n == 0:
        return f"{head} no seed finished in both arms{tail}."
    amount = f"{_signed(diff.mean * scale, digits)} {unit}".rstrip()
    if diff.n == 1:
        return f"{head} {amount}; {ONE_REPEAT}{tail}."
    low, high = _signed(diff.low * scale, digits), _signed(diff.high * scale, digits)
    verdict = "significant" if diff.significant else "not significant"
    return f"{head} {amount} (95 % CI {low} to {high}), {verdict} over {diff.n} seeds{tail}"


# --- One-standard-error rule ---------------------------------------------------------------------


@dataclass(frozen=True)
class OneSE:
    """Best lambda by mean, and the largest lambda whose mean is within one standard error of it."""

    best: float
    best_mean: float
    best_se: float | None  # None when the best point has a single finished repeat
    threshold: float  # best_mean - best_se (or + for a loss); best_mean without an se
    chosen: float  # the one-standard-error lambda (>= best)
    means: dict[float, float]  # mean per lambda that has at least one finished repeat
    reason: str | None  # why the rule fell back to the best lambda itself

    def to_dict(self) -> dict:
        return asdict(self)


def one_standard_error(
    path: Mapping[float, Sequence[float | None] | Mapping[int, float | None]],
    higher_is_better: bool = True,
) -> OneSE:
    """The one-standard-error rule over a sweep's path: per lambda, the per-seed values.

    Ties in the best mean go to the larger lambda (the simpler model). Values that are None or
    NaN (failed repeats) are left out; a lambda with none left is skipped.
    """
    stats: dict[float, Interval] = {}
    for lam, vals in path.items():
        keyed = vals if isinstance(vals, Mapping) else dict(enumerate(vals))
        interval = mean_interval(keyed)
        if interval.n > 0:
            stats[float(lam)] = interval
    if not stats:
        raise ValueError("no lambda of the path has a finished repeat")
    sign = 1.0 if higher_is_better else -1.0
    best = max(stats, key=lambda lam: (sign * stats[lam].mean, lam))
    b = stats[best]
    se = b.se
    reason = None if se is not None else ONE_REPEAT
    threshold = b.mean - sign * (se or 0.0)
    within = [lam for lam, s in stats.items() if sign * s.mean >= sign * threshold]
    return OneSE(
        best=best,
        best_mean=b.mean,
        best_se=se,
        threshold=threshold,
        chosen=max(within),
        means={lam: s.mean for lam, s in sorted(stats.items())},
        reason=reason,
    )
