"""Function views' compact form (store.models.FunctionView), shared by the worker (packs) and
the web side (unpacks). Pure Python.

A decision boundary is GRID x GRID class probabilities: stored as unsigned 16-bit fixed point
(p * 65535, rounded), 8 KiB per arm and epoch at 64x64 instead of ~30 KiB of JSON. The worker
packs the view it computed and the API answers the unpacked values, so a view computed again
from the final checkpoint and packed the same way gives the same bytes (tested).
"""

import sys
from array import array
from typing import Any

SCALE = 65535


def pack(view: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """(the view's JSON part, the packed grid or None)."""
    if "prob" not in view:
        return view, None
    rest = {k: v for k, v in view.items() if k != "prob"}
    q = array("H", (round(p * SCALE) for row in view["prob"] for p in row))
    if sys.byteorder != "little":
        q.byteswap()
    return rest, q.tobytes()


def unpack(view: dict[str, Any], grid: bytes | None) -> dict[str, Any]:
    """The view as the API answers it: prob[i][j] for x1[i], x0[j] (5 digits)."""
    if grid is None:
        return dict(view)
    q = array("H")
    q.frombytes(grid)
    if sys.byteorder != "little":
        q.byteswap()
    width = len(view["grid"]["x0"])
    rows = [q[i : i + width] for i in range(0, len(q), width)]
    return {**view, "prob": [[round(v / SCALE, 5) for v in row] for row in rows]}
