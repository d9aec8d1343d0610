"""The services routes call (app.experiments, app.downloads), on a real SQLite file, and the rule
that the web side builds no query of its own: every query is named once in store.reads or
store.queue."""

import ast

import pytest

from app import downloads, experiments
from app.schemas import ExperimentIn, ExperimentPatch
from store import reads
from store.engine import read_session
from tests import factories
from tests.conftest import ROOT

TINY = {**factories.TINY, "epochs": 2}


def count(engine) -> int:
    with read_session(engine) as s:
        return reads.count_experiments(s)


def test_launch_queues_one_run_per_arm_and_refuses_too_much_work(engine):
    body = ExperimentIn.model_validate({**TINY, "runs": [{"name": "a"}, {"name": "b"}]})
    with pytest.raises(experiments.TooMuchWork, match="too large"):
        experiments.launch(engine, body, max_work=1.0)
    assert count(engine) == 0  # refused: nothing stored
    exp = experiments.fresh(engine, experiments.launch(engine, body, max_work=2e15))
    assert [r.name for r in exp.runs] == ["a", "b"]
    assert {r.status for r in exp.runs} == {"queued"}


def test_relaunch_annotate_cancel_and_delete_answer_none_for_a_missing_experiment(engine, settings):
    assert experiments.relaunch(engine, 99, 2e15) is None
    assert experiments.annotate(engine, 99, ExperimentPatch(name="x")) is None
    assert experiments.cancel(engine, 99) is None
    assert experiments.delete(engine, settings, 99) is False
    assert count(engine) == 0


def test_relaunch_keeps_the_name_and_cancel_says_what_it_did(engine, settings):
    body = ExperimentIn.model_validate({**TINY, "name": "mine", "runs": [{"name": "a"}]})
    first = experiments.launch(engine, body, 2e15)
    again = experiments.relaunch(engine, first, 2e15)
    assert again != first and experiments.fresh(engine, again).name == "mine"
    counts, exp = experiments.cancel(engine, again)
    assert counts == {"cancelled": 1, "stopping": 0} and exp.status == "cancelled"
    patched = experiments.annotate(engine, first, ExperimentPatch(notes="n", tags=["t"]))
    assert (patched.name, patched.notes, patched.tags) == ("mine", "n", ["t"])
    assert experiments.delete(engine, settings, first) and count(engine) == 1


def test_the_csv_downloads_of_a_missing_experiment_are_none(engine):
    with read_session(engine) as s:
        assert downloads.metrics_csv(s, 7) is None and downloads.path_csv(s, 7) is None


WEB_SIDE = sorted((ROOT / "app").rglob("*.py"))
QUERY_NAMES = {"select", "insert", "update", "delete", "exists", "func", "text"}


@pytest.mark.parametrize("path", WEB_SIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_web_side_builds_no_query(path):
    """No module of app/ imports SQLAlchemy's query builders or runs a statement on a session:
    what it reads comes from store.reads, what it writes goes through store.queue."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("sqlalchemy", "sqlmodel"):
            built = QUERY_NAMES & {a.name for a in node.names}
            assert not built, f"{path.name} imports {built} from {node.module}"
        if isinstance(node, ast.Attribute) and node.attr in ("exec", "execute", "get"):
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else ""
            assert name not in ("session", "s", "fresh", "conn"), (
                f"{path.name}:{node.lineno} runs {name}.{node.attr}"
            )
