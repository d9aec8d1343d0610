"""The boundary: the web side never loads torch, the worker never loads the web stack."""

import subprocess
import sys

import pytest

CHECK = """
import sys, importlib
importlib.import_module({module!r})
bad = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})
print(','.join(bad))
"""


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("app.main", {"torch", "torchvision", "worker"}),
        ("app.cli", {"torch", "torchvision", "worker"}),
        ("store.queue", {"torch", "fastapi", "starlette", "worker", "sse_starlette"}),
        (
            "store.spec",
            {"torch", "fastapi", "starlette", "worker", "app", "sqlalchemy", "pydantic"},
        ),
        ("store.reads", {"torch", "fastapi", "starlette", "worker", "sse_starlette"}),
        ("worker.loop", {"fastapi", "starlette", "sse_starlette", "uvicorn", "jinja2"}),
        ("worker.__main__", {"fastapi", "starlette", "sse_starlette", "uvicorn", "jinja2"}),
    ],
)
def test_import_boundary(module, forbidden):
    out = subprocess.run(
        [sys.executable, "-c", CHECK.format(module=module, forbidden=forbidden)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "", f"importing {module} loaded {out}"


def test_boundary_check_would_notice_a_violation():
    """The check itself works: importing the worker's training code does load torch."""
    out = subprocess.run(
        [sys.executable, "-c", CHECK.format(module="worker.train", forbidden={"torch"})],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "torch" in out.split(",")
