"""Property-based tests: schemathesis fuzzes every API operation from the OpenAPI schema; hypothesis
tests the validators and the shared histogram bins."""

import math
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.db import bins
from app.main import create_app
from app.schemas import ExperimentIn, RunIn
from app.settings import Settings
from tests.conftest import SHARED_DATA

# A real app on a real (throwaway) SQLite file; schemathesis drives it in-process over ASGI.
_home = Path(tempfile.mkdtemp(prefix="reglab-fuzz-"))
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(
        Settings(
            home=_home,
            data_dir=SHARED_DATA,
            download=False,
            allowed_hosts=["testserver", "localhost"],
        )
    ),
)


# The event stream never ends, so it is left out here; test_security covers its inputs.
@schema.exclude(path_regex=r"/events$").parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_breaks_its_schema(case):
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    case.validate_response(response, checks=(schemathesis.checks.response_schema_conformance,))


finite = st.floats(allow_nan=True, allow_infinity=True)


@given(l1=finite, l2=finite, dropout=finite)
def test_run_validator_accepts_exactly_the_sane_values(l1, l2, dropout):
    ok = (
        all(math.isfinite(v) for v in (l1, l2, dropout))
        and 0 <= l1 <= 1
        and 0 <= l2 <= 1
        and 0 <= dropout < 1
    )
    try:
        run = RunIn(name="a", l1=l1, l2=l2, dropout=dropout)
    except ValidationError:
        assert not ok
    else:
        assert ok and (run.l1, run.l2, run.dropout) == (l1, l2, dropout)


@given(
    epochs=st.integers(-10, 500),
    batch=st.integers(-10, 10_000),
    lr=finite,
    per_class=st.one_of(st.none(), st.integers(-5, 10_000)),
)
def test_experiment_validator_bounds(epochs, batch, lr, per_class):
    ok = (
        1 <= epochs <= 200
        and 1 <= batch <= 4096
        and math.isfinite(lr)
        and 0 < lr <= 1
        and (per_class is None or 1 <= per_class <= 6000)
    )
    try:
        ExperimentIn(epochs=epochs, batch_size=batch, lr=lr, train_per_class=per_class)
    except ValidationError:
        assert not ok
    else:
        assert ok


@given(
    st.lists(st.integers(0, 1000), min_size=bins.BINS, max_size=bins.BINS),
    st.integers(0, 5),
    st.integers(0, 5),
)
def test_coarsening_keeps_every_count_in_its_place(counts, level, extra):
    coarse = bins.coarsen(counts, level, level + extra)
    assert len(coarse) == bins.BINS and sum(coarse) == sum(counts)
    fine_edges, coarse_edges = bins.edges(1.0, level), bins.edges(1.0, level + extra)
    for i, c in enumerate(counts):  # each fine bin lies inside the coarse bin that got its count
        if c:
            mid = (fine_edges[i] + fine_edges[i + 1]) / 2
            j = next(k for k in range(bins.BINS) if coarse_edges[k] <= mid < coarse_edges[k + 1])
            assert coarse[j] >= c


@given(st.floats(1e-6, 10), st.floats(0, 1e6))
def test_the_level_always_holds_the_largest_weight(base, max_abs):
    level = bins.level_for(base, max_abs)
    assert max_abs < base * 2**level
    assert level == 0 or max_abs >= base * 2 ** (level - 1)
