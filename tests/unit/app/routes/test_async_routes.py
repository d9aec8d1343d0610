"""Nothing on an `async def` route's own path touches the database: a blocked event loop stops
every stream and page at once. Such a route may call only what is listed here; database work
goes through `to_thread.run_sync`, whose arguments are not calls."""

import ast

from tests.conftest import ROOT

ALLOWED = {
    "request.form",
    "request.headers.get",
    "forms.parse",
    "over_budget",
    "templates.TemplateResponse",
    "Response",
    "RedirectResponse",
    "HTTPException",
    "not_found",
    "to_thread.run_sync",
    "live.subscribe",
    "live.unsubscribe",
    "event_cursor",
    "replay",
    "StreamResponse",
    "stream",
    "sub.get",
    "str",
    "form.get",
    "_local",
    "hmac.compare_digest",
    "given.encode",
    "token.encode",
    "settings.token.get_secret_value",
    "response.set_cookie",
    "cookie_value",
    "super",
    "super().__call__",
    "self._live.unsubscribe",
}


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{dotted(node.func)}()"
    return type(node).__name__


def test_async_routes_make_no_blocking_calls():
    offenders = []
    for path in sorted((ROOT / "app" / "routes").glob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.AsyncFunctionDef):
                continue
            calls = [n for stmt in fn.body for n in ast.walk(stmt) if isinstance(n, ast.Call)]
            offenders += [
                f"{path.name}:{c.lineno} {fn.name} calls {dotted(c.func)}"
                for c in calls
                if dotted(c.func) not in ALLOWED
            ]
    assert offenders == []
