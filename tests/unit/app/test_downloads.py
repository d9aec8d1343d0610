"""Files the API serves: checkpoint names in any script, from either storage, and CSV exports that
a spreadsheet opens as data, never as formulas."""

import csv
import io
from urllib.parse import unquote

import pytest
import torch
from fastapi.testclient import TestClient
from werkzeug.http import parse_options_header

from app.downloads import FORMULA_STARTS, ascii_filename, attachment, csv_cell, csv_text
from app.main import create_app
from store.engine import write_session
from store.models import EpochMetric
from tests.factories import TINY
from worker.loop import Worker

UNICODE_ARMS = ["λ-test", "测试", "Ridge"]


def disposition_filename(header: str) -> str:
    """The file name an RFC 6266 parser (werkzeug's: `filename*` wins over `filename`) reads."""
    kind, params = parse_options_header(header)
    assert kind == "attachment"
    return params["filename"]


@pytest.mark.parametrize("storage", ["file", "db"])
def test_checkpoints_of_unicode_arms_download_with_their_names(settings, storage):
    settings.artifacts = storage
    with TestClient(create_app(settings)) as client:
        exp = client.post(
            "/api/experiments", json={**TINY, "runs": [{"name": n} for n in UNICODE_ARMS]}
        ).json()
        assert Worker(settings).run_forever(exit_when_idle=True) == len(UNICODE_ARMS)
        runs = client.get(f"/api/experiments/{exp['id']}").json()["runs"]
        for run, name in zip(runs, UNICODE_ARMS, strict=True):
            assert run["status"] == "succeeded" and run["name"] == name
            for fmt in ("pt", "safetensors"):
                r = client.get(f"/api/runs/{run['id']}/checkpoint?format={fmt}")
                assert r.status_code == 200, r.text
                header = r.headers["content-disposition"]
                assert header.isascii() and header.startswith("attachment;")
                want = f"reglab-run{run['id']}-{name.lower()}.{fmt}"
                assert disposition_filename(header) == want
                fallback = header.split('filename="', 1)[1].split('"', 1)[0]
                assert fallback.isascii() and fallback.endswith(f".{fmt}")
                assert header == attachment(want)  # one helper for both storages
            ckpt = torch.load(
                io.BytesIO(client.get(run["checkpoint_url"]).content), weights_only=True
            )
            assert ckpt["epoch"] == 1


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("reglab-run3-λ-test.pt", "reglab-run3-test.pt"),
        ("reglab-run3-测试.pt", "reglab-run3.pt"),
        ("café.csv", "cafe.csv"),
        ("测试", "download"),
        ('a"b\\c;d.pt', "a-b-c-d.pt"),
        ("reglab-experiment1-path.csv", "reglab-experiment1-path.csv"),
    ],
)
def test_attachment_header_carries_the_name_and_an_ascii_fallback(name, fallback):
    header = attachment(name)
    assert header.isascii()
    assert ascii_filename(name) == fallback and f'filename="{fallback}"' in header
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded, errors="strict") == name and disposition_filename(header) == name


def test_csv_cells_neutralise_formula_text_and_keep_numbers():
    texts = ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-0.5", '=HYPERLINK("http://e")']
    assert [csv_cell(t) for t in texts] == ["'" + t for t in texts]
    assert [csv_cell(t) for t in ("Ridge", "λ-test", "1e-3", "")] == ["Ridge", "λ-test", "1e-3", ""]
    # Real numbers stay numbers: a spreadsheet reads -0.5 as minus one half, not as a formula.
    assert [csv_cell(v) for v in (-0.5, 0.25, -3, 0, None)] == [-0.5, 0.25, -3, 0, ""]
    assert csv_cell(float("-inf")) == "'-inf" and csv_cell(float("nan")) == "nan"
    rows = list(csv.reader(io.StringIO(csv_text(["a", "=b"], [["=x", -0.5, "-y", 1e-05]]))))
    assert rows == [["a", "'=b"], ["'=x", "-0.5", "'-y", "1e-05"]]
    assert float(rows[1][1]) == -0.5


def test_path_csv_serves_formula_names_as_text_and_negative_numbers_as_numbers(client, engine):
    names = ["=1+2", "+cmd", "-2+3", "=HYPERLINK(a)", "Ridge"]
    exp = client.post("/api/experiments", json={**TINY, "runs": [{"name": n} for n in names]})
    assert exp.status_code == 201, exp.text
    runs = exp.json()["runs"]
    with write_session(engine) as s:  # one finished epoch where validation beats training
        s.add(
            EpochMetric(
                run_id=runs[0]["id"],
                epoch=1,
                train_loss=0.5,
                penalty=0.0,
                train_acc=0.5,
                val_loss=0.25,
                val_acc=0.75,
                lr=1e-3,
                epoch_time=1.0,
                samples_per_s=100.0,
                layers={
                    "linear_1.weight": {"mean_abs": 0.1, "zero_frac": 0.0, "near_zero_frac": 0}
                },
            )
        )
    r = client.get(f"/api/experiments/{exp.json()['id']}/path.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert disposition_filename(r.headers["content-disposition"]).endswith("-path.csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["arm"] for row in table] == ["'=1+2", "'+cmd", "'-2+3", "'=HYPERLINK(a)", "Ridge"]
    assert float(table[0]["gap"]) == -0.25 and table[0]["gap"] == "-0.25"  # a number, not text
    assert table[0]["linear_1.weight.mean_abs"] == "0.1"
    for row in table:
        for cell in row.values():
            assert not cell.startswith(FORMULA_STARTS) or is_number(cell), row


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
