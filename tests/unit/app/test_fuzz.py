"""Property-based tests: schemathesis fuzzes every API operation from the OpenAPI schema; hypothesis
tests the validators and the shared histogram bins."""

import csv
import io
import math
import tempfile
import unicodedata
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.downloads import FORMULA_STARTS, csv_cell, csv_text
from app.main import create_app
from app.schemas import BIDI_CONTROLS, LINE_BREAKS, TRIMMED, ExperimentIn, RunIn
from app.security import is_loopback, parse_host
from store import bins
from store.settings import Settings
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
    epochs=st.integers(-10, 2500),
    batch=st.integers(-10, 10_000),
    lr=finite,
    per_class=st.one_of(st.none(), st.integers(-5, 10_000)),
)
def test_experiment_validator_bounds(epochs, batch, lr, per_class):
    ok = (
        1 <= epochs <= 2000
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


def hidden(text: str) -> bool:
    return any(
        unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS or ch in LINE_BREAKS
        for ch in text.strip(TRIMMED)
    )


@given(st.text(max_size=60) | st.text(alphabet=["a", "\u202e", "\t", "\x1f", "\u2066", " "]))
def test_experiment_names_accept_exactly_the_text_without_hidden_characters(text):
    ok = not hidden(text) and len(text.strip(TRIMMED)) <= 80
    try:
        exp = ExperimentIn(name=text)
    except ValidationError as e:
        assert not ok
        assert e.errors()[0]["loc"] == ("name",)
    else:
        assert ok and exp.name == text.strip(TRIMMED)


@given(st.text(alphabet=st.sampled_from("ab=-+ ()\u202e\u200f\t\x00λ测"), min_size=1, max_size=40))
def test_arm_names_never_keep_a_hidden_character(text):
    try:
        run = RunIn(name=text)
    except ValidationError:
        return
    assert not hidden(run.name)


@given(st.text())
def test_a_csv_cell_never_starts_a_formula_and_keeps_the_text(text):
    cell = csv_cell(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell == text or (cell == "'" + text and text.startswith(FORMULA_STARTS))
    [_, [back]] = list(csv.reader(io.StringIO(csv_text(["h"], [[text]]), newline="")))
    assert back == cell


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**12), 10**12))
def test_a_csv_number_stays_the_same_number(value):
    [row] = list(csv.reader(io.StringIO(csv_text(["x"], [[value]]))))[1:]
    assert type(value)(row[0]) == value


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40))
@settings(max_examples=200)
def test_parse_host_returns_a_host_that_reads_back_the_same(text):
    parsed = parse_host(text)
    if parsed is None:
        return
    name, port = parsed
    again = f"[{name}]" if ":" in name else name
    assert parse_host(again + (f":{port}" if port else "")) == parsed
    assert port is None or 0 < port <= 65535


_guarded = create_app(
    Settings(home=_home, data_dir=SHARED_DATA, download=False, allowed_hosts=["testserver"])
)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40))
@settings(max_examples=100, deadline=None)
def test_any_host_header_answers_200_or_a_plain_400(host):
    r = TestClient(_guarded).get("/api/health", headers={"Host": host.encode("latin-1")})
    parsed = parse_host(host.strip())
    ours = parsed is not None and (parsed[0] == "testserver" or is_loopback(parsed[0]))
    assert r.status_code == (200 if ours else 400), (host, r.text)
    if not ours:
        assert "Host" in r.json()["detail"]
