"""Where checkpoint files live: a directory (the single-machine default) or the database.

Workers write, the server reads (the rows through store.reads); neither ever builds a path from
anything a request carries.
"""

import hashlib
import os
from pathlib import Path

from store.models import Checkpoint

FORMATS = ("pt", "safetensors")


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def prepare(
    storage: str, directory: Path, run_id: int, files: dict[str, bytes]
) -> list[tuple[Checkpoint, bytes | None]]:
    """Checkpoint rows for a run's final files; with file storage the files are written now,
    with database storage the bytes travel with the rows (queue.finish inserts both)."""
    out = []
    for fmt, data in files.items():
        name = f"run-{run_id}.{fmt}"
        if storage == "file":
            for stale in directory.glob(f".{name}.*.tmp"):  # left by a worker killed mid-write
                stale.unlink(missing_ok=True)
            atomic_write(directory / name, data)
        row = Checkpoint(
            run_id=run_id,
            format=fmt,
            storage=storage,
            filename=name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        out.append((row, None if storage == "file" else data))
    return out


def file_path(directory: Path, ckpt: Checkpoint) -> Path | None:
    """The file of a file-stored checkpoint, only if it resolves inside the directory."""
    root = directory.resolve()
    path = (root / ckpt.filename).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def remove_files(directory: Path, names: list[str], run_ids: list[int]) -> int:
    """Delete deleted runs' checkpoint files (names from our own rows, kept inside the
    directory), and any temporary file a worker left mid-write for those runs. How many went."""
    root = directory.resolve()
    gone = 0
    paths = [(root / name).resolve() for name in names]
    for run_id in run_ids:
        paths += root.glob(f".run-{int(run_id)}.*.tmp") if root.is_dir() else []
    for path in paths:
        if path.is_relative_to(root) and path.is_file():
            path.unlink(missing_ok=True)
            gone += 1
    return gone
