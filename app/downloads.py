"""What the API sends as files: checkpoints and CSV tables (the experiment's metrics, its path),
the Content-Disposition of every download, and CSV cells that are safe to open in a
spreadsheet."""

import csv
import io
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.responses import FileResponse, Response
from sqlmodel import Session

from app import summary, views
from store import artifacts, reads
from store.models import Run
from store.spec import CLASSIFICATION_METRICS, REGRESSION, REGRESSION_METRICS

# OWASP's CSV injection list: a spreadsheet reads a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def attachment(filename: str) -> str:
    """A Content-Disposition header value (RFC 6266) for any file name: `filename*` carries the
    name itself in UTF-8, percent-encoded (RFC 8187), and `filename` an ASCII stand-in for clients
    that know only that. The value is ASCII, so it fits any HTTP header (a header is latin-1 on
    the wire; a raw `λ` or `测` cannot be sent at all)."""
    encoded = quote(filename, safe="")
    return f"attachment; filename=\"{ascii_filename(filename)}\"; filename*=UTF-8''{encoded}"


def ascii_filename(filename: str) -> str:
    """`reglab-run3-λ-test.pt` -> `reglab-run3-test.pt`, `café.csv` -> `cafe.csv`: accents
    dropped, other non-ASCII and quoting characters left out, never empty."""
    text = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    text = re.sub(r"-{2,}", "-", text)
    text = re.sub(r"-+\.", ".", text).strip("-.")
    stem, dot, ext = text.rpartition(".")
    if not dot:
        stem, ext = text, ""
    return f"{stem or 'download'}{'.' + ext if ext else ''}"


def csv_cell(value: Any) -> Any:
    """One cell, safe to open in a spreadsheet (OWASP, CSV injection): a text that starts like a
    formula gets a leading `'`, which spreadsheets show as text and do not evaluate. Real numbers
    stay numbers, negative ones included: `-0.5` written from a float is a number to any
    spreadsheet, not a formula, and quoting it would turn a column of values into text. A number
    that is not finite (`-inf`) is written as text and neutralised like any text."""
    if value is None:
        return ""
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(v) for v in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def csv_response(filename: str, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Response:
    """Every CSV the API serves goes through here (and so through csv_cell)."""
    return Response(
        csv_text(header, rows),
        media_type="text/csv",
        headers={"Content-Disposition": attachment(filename)},
    )


def _absent(config: dict[str, Any]) -> frozenset[str]:
    """The columns a task's tables leave out: a regression's accuracies (and their gap), a
    classification's R²."""
    if views.task_kind(config) == REGRESSION:
        return CLASSIFICATION_METRICS | {"gap"}
    return REGRESSION_METRICS


def metrics_table(session: Session, experiment_id: int) -> tuple[list, list] | None:
    """Every arm's every epoch as one table: (header, rows), one row per run and epoch, the
    per-layer statistics as `<layer>.<stat>` columns."""
    arms = reads.experiment_arms(session, experiment_id)
    if arms is None:
        return None
    runs = arms[1]
    per_run = [(run, reads.run_metrics(session, run.id)) for run in runs]
    layers: dict[str, list[str]] = {}
    for _, epochs in per_run:
        for m in epochs:
            for layer, stats in m["layers"].items():
                known = layers.setdefault(layer, [])
                known.extend(s for s in stats if s not in known)
    absent = _absent(arms[0].config)
    scalars = [f for f in (*reads.METRIC_FIELDS, "gap") if f not in absent]
    head = ["run_id", "arm", "status", "epoch", *scalars, "seed"]
    head += [f"{layer}.{stat}" for layer in sorted(layers) for stat in layers[layer]]
    rows = [
        [run.id, run.name, run.status, m["epoch"], *(m.get(k) for k in scalars), run.seed]
        + [
            m["layers"].get(layer, {}).get(stat)
            for layer in sorted(layers)
            for stat in layers[layer]
        ]
        for run, epochs in per_run
        for m in epochs
    ]
    return head, rows


def metrics_csv(session: Session, experiment_id: int) -> Response | None:
    """The metrics table as a CSV download; None when there is no such experiment."""
    table = metrics_table(session, experiment_id)
    if table is None:
        return None
    return csv_response(f"reglab-experiment{experiment_id}-metrics.csv", *table)


def path_table(
    path: dict[str, Any], absent: frozenset[str] = REGRESSION_METRICS
) -> tuple[list, list]:
    """The regularization path (views.experiment_path) as (header, rows): one row per arm;
    without the `absent` columns (the task's, see _absent)."""
    metrics = [k for k in views.PATH_METRICS if k not in absent]
    layers = sorted({name for p in path["points"] for name in p.get("layers", {})})
    head = ["run_id", "arm", path["param"] or "value", "status", "epoch", *metrics]
    head += ["seed", *(f"{layer}.{k}" for layer in layers for k in views.PATH_LAYER_STATS)]
    rows = [
        [p["run_id"], p["name"], p["value"], p["status"], p["epoch"]]
        + [p.get(k) for k in metrics]
        + [p.get("seed")]
        + [
            p.get("layers", {}).get(layer, {}).get(k)
            for layer in layers
            for k in views.PATH_LAYER_STATS
        ]
        for p in path["points"]
    ]
    return head, rows


def path_csv(session: Session, experiment_id: int) -> Response | None:
    """The path as a CSV download (arm names like `=1+1` arrive as text, not formulas); None
    when there is no such experiment."""
    path = views.experiment_path(session, experiment_id)
    exp = reads.experiment(session, experiment_id)
    if path is None or exp is None:
        return None
    table = path_table(path, _absent(exp.config))
    return csv_response(f"reglab-experiment{experiment_id}-path.csv", *table)


INTERVAL_COLUMNS = ("n", "mean", "low", "high")
DIFFERENCE_COLUMNS = ("n", "mean", "low", "high", "p_value")


def summary_table(found: dict[str, Any]) -> tuple[list, list]:
    """The summary (app.summary) as (header, rows): one row per arm, with each figure's mean and
    95 % interval over seeds and the paired difference from the reference arm."""
    keys = list(found["arms"][0]["intervals"]) if found["arms"] else []
    head = ["arm", "name", "repeats", "left_out_seeds"]
    head += [f"{key}.{c}" for key in keys for c in INTERVAL_COLUMNS]
    head += [f"difference.{c}" for c in DIFFERENCE_COLUMNS] + ["sentence"]
    rows = []
    for arm in found["arms"]:
        intervals, diff = arm["intervals"], arm["difference"] or {}
        rows.append(
            [arm["arm"], arm["name"], arm["repeats"], " ".join(map(str, arm["left_out"]))]
            + [intervals[key][c] for key in keys for c in INTERVAL_COLUMNS]
            + [diff.get(c) for c in DIFFERENCE_COLUMNS]
            + [arm["sentence"]]
        )
    return head, rows


def summary_csv(session: Session, experiment_id: int) -> Response | None:
    """The summary as a CSV download; None when there is no such experiment."""
    found = summary.experiment_summary(session, experiment_id)
    if found is None:
        return None
    return csv_response(f"reglab-experiment{experiment_id}-summary.csv", *summary_table(found))


def checkpoint(session: Session, directory: Path, run: Run, fmt: str) -> Response | str:
    """A run's final checkpoint as a download, or what is missing ("checkpoint of run"...)."""
    ckpt = reads.checkpoint(session, run.id, fmt)
    if ckpt is None:
        return "checkpoint of run"
    slug = "".join(ch if ch.isalnum() else "-" for ch in run.name.lower()).strip("-") or "arm"
    headers = {"Content-Disposition": attachment(f"reglab-run{run.id}-{slug}.{fmt}")}
    if ckpt.storage == "db":
        data = reads.checkpoint_blob(session, ckpt)
        if data is None:
            return "checkpoint data of run"
        return Response(data, media_type="application/octet-stream", headers=headers)
    # The name comes from our own table, never from the request; still, serve only inside root.
    path = artifacts.file_path(directory, ckpt)
    if path is None:
        return "checkpoint file of run"
    # The same header as from the database (FileResponse's own would lack the ASCII fallback).
    return FileResponse(path, media_type="application/octet-stream", headers=headers)
