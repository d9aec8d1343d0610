"""What the API and the form do to experiments: launch (store it, queue its arms), run again,
annotate, cancel and delete. Each write goes through store.queue; what it answers is read back
in a fresh session, so it shows the write (the request's own session may hold an older
snapshot)."""

from sqlalchemy import Engine

from app import views
from app.limits import over_budget
from app.schemas import ExperimentIn, ExperimentPatch, ExperimentPublic
from store import artifacts, queue, reads
from store.engine import read_session
from store.settings import Settings


class TooMuchWork(ValueError):
    """More work than REGLAB_MAX_WORK allows; the message says so in plain words."""


def fresh(engine: Engine, experiment_id: int) -> ExperimentPublic | None:
    """The experiment as it stands now, in a session of its own."""
    with read_session(engine) as s:
        return views.get_experiment(s, experiment_id)


def launch(engine: Engine, body: ExperimentIn, max_work: float, name: str | None = None) -> int:
    """Store the experiment and queue one run per arm (one transaction); its id. TooMuchWork,
    and nothing stored, when it asks more than `max_work`."""
    if too_big := over_budget(body, max_work):
        raise TooMuchWork(too_big)
    arms = [(r.name, r.arm_config()) for r in body.runs]
    shared = body.shared_config()
    return queue.create_experiment(engine, name or body.display_name(), shared, arms).id


def relaunch(engine: Engine, experiment_id: int, max_work: float) -> int | None:
    """Run it again: a new queued experiment with the same settings, arms (or sweep) and name;
    its id, or None when there is no such experiment."""
    with read_session(engine) as s:
        stored = views.experiment_input(s, experiment_id)
    if stored is None:
        return None
    body, name = stored
    return launch(engine, body, max_work, name)


def annotate(engine: Engine, experiment_id: int, patch: ExperimentPatch) -> ExperimentPublic | None:
    """Rename it, or replace its notes or tags (fields left out stay); None when it is gone."""
    tags = views.tags_stored(patch.tags) if patch.tags is not None else None
    if not queue.annotate(engine, experiment_id, name=patch.name, notes=patch.notes, tags=tags):
        return None
    return fresh(engine, experiment_id)


def cancel(engine: Engine, experiment_id: int) -> tuple[dict[str, int], ExperimentPublic] | None:
    """Cancel its queued arms and ask its running ones to stop: (how many of each, the
    experiment now), or None when there is no such experiment."""
    if not reads.experiment_exists(engine, experiment_id):
        return None
    counts = queue.request_cancel(engine, experiment_id)
    return counts, fresh(engine, experiment_id)


def delete(engine: Engine, settings: Settings, experiment_id: int) -> bool:
    """The experiment and all of it, its checkpoint files included; False when there is none."""
    deleted = queue.delete_experiment(engine, experiment_id)
    if deleted is None:
        return False
    artifacts.remove_files(settings.checkpoints, deleted.files, deleted.run_ids)
    return True
