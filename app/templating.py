"""Jinja templates (top-level templates/) and the filters they use."""

from pathlib import Path

from fastapi.templating import Jinja2Templates

from app.schemas import DATASETS, OPTIMIZERS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def lam(value: float | None) -> str:
    """Lambdas as people write them: 0.0001 -> 1e-4."""
    if not value:
        return "0"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["duration"] = duration
templates.env.filters["lam"] = lam
templates.env.globals["DATASETS"] = DATASETS
templates.env.globals["OPTIMIZERS"] = OPTIMIZERS
