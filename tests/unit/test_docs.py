"""The README documents every setting and every API route the server has."""

import re

from app.main import create_app
from store.settings import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [
        f"REGLAB_{name.upper()}"
        for name in Settings.model_fields
        if f"REGLAB_{name.upper()}" not in README
    ]
    assert missing == [], f"settings missing from the README: {missing}"


def test_every_api_route_is_documented(settings):
    # "`GET /api/x?a=`", or a bare "`/api/x?a=`" for another GET in the same row.
    pairs = re.findall(r"`(?:(GET|POST|PATCH|PUT|DELETE) )?(/api/[^` ]*)", README)
    documented = {
        (method or "GET", re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])) for method, path in pairs
    }
    paths = create_app(settings).openapi()["paths"]
    routes = {
        (method.upper(), re.sub(r"\{[^}]*\}", "{}", path))
        for path, ops in paths.items()
        if path.startswith("/api/")
        for method in ops
    }
    assert sorted(routes - documented) == [], "API routes missing from the README"
