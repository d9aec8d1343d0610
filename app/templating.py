"""Jinja templates (top-level templates/) and the filters they use."""

from pathlib import Path

from fastapi.templating import Jinja2Templates

from app.forms import FORM
from app.presets import PRESETS
from app.schemas import (
    DATASETS,
    MODELS,
    OPTIMIZERS,
    PRECISIONS,
    SWEEP_PARAMS,
    WEIGHT_DECAY_NOTES,
)
from store.spec import REGRESSION, TASKS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"
# The page script's ES modules (static/js/, entry main.js): base.html preloads every one.
SCRIPT_MODULES = sorted(p.name for p in (STATIC_DIR / "js").glob("*.js"))


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


def treatments(config: dict) -> list[str]:
    """An arm's regularization in a few words each; empty for the unregularized Original."""
    out = []
    l1_layers, l2_layers = config.get("l1_layers"), config.get("l2_layers")
    if l1_layers:
        out.append("L1 per layer " + " / ".join(lam(v) for v in l1_layers))
    elif config.get("l1"):
        out.append(f"L1 λ {lam(config['l1'])}")
    if l2_layers:
        out.append("L2 per layer " + " / ".join(lam(v) for v in l2_layers))
    elif config.get("l2"):
        out.append(f"L2 λ {lam(config['l2'])}")
    if config.get("prox_l1"):
        out.append(f"proximal L1 λ {lam(config['prox_l1'])}")
    if config.get("weight_decay"):
        out.append(f"weight decay {lam(config['weight_decay'])}")
    if config.get("optimizer"):
        out.append(OPTIMIZERS.get(config["optimizer"], config["optimizer"]))
    if config.get("penalize_bias") and any(
        config.get(k) for k in ("l1", "l2", "l1_layers", "l2_layers", "prox_l1", "weight_decay")
    ):
        out.append("biases too")
    if config.get("dropout"):
        out.append(f"dropout {config['dropout']:g}")
    if config.get("batchnorm"):
        out.append("batch norm")
    if config.get("augment"):
        parts = ["flip"] if config.get("aug_flip") else []
        if config.get("aug_rotate"):
            parts.append(f"±{config['aug_rotate']:g}°")
        if config.get("aug_scale", 1) < 1:
            parts.append(f"crop ≥{config['aug_scale']:g}")
        out.append("augment (" + ", ".join(parts or ["none"]) + ")")
    return out


def setting(value) -> str:
    """A setting's value as the form takes it: 0.0001 stays 0.0001 (never "0"), 1e-05 short."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(setting(v) for v in value)
    return str(value)


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["treatments"] = treatments
templates.env.filters["duration"] = duration
templates.env.filters["lam"] = lam
templates.env.filters["setting"] = setting
templates.env.globals["SCRIPT_MODULES"] = SCRIPT_MODULES
templates.env.globals["DATASETS"] = DATASETS
templates.env.globals["OPTIMIZERS"] = OPTIMIZERS
templates.env.globals["MODELS"] = MODELS
templates.env.globals["PRECISIONS"] = PRECISIONS
templates.env.globals["SWEEP_PARAMS"] = SWEEP_PARAMS
templates.env.globals["WEIGHT_DECAY_NOTES"] = WEIGHT_DECAY_NOTES
templates.env.globals["FORM"] = FORM
# The toy tasks' function views (static/js/function.js) and which tasks are regressions.
templates.env.globals["TASK_VIEWS"] = {t.key: t.view for t in TASKS if t.view}
templates.env.globals["REGRESSION_TASKS"] = frozenset(t.key for t in TASKS if t.kind == REGRESSION)
templates.env.globals["TASKS"] = {t.key: t for t in TASKS}
templates.env.globals["PRESETS"] = {key: label for key, (label, _) in PRESETS.items()}
