"""No function in app/, worker/ or store/ is longer than 60 lines, except the one training loop
(worker.train.train), which reads best as one page. Generated migrations aside."""

import ast

from tests.conftest import ROOT

LIMIT = 60
EXEMPT = {("worker/train.py", "train")}


def long_functions() -> list[str]:
    found = []
    for package in ("app", "worker", "store"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name.startswith("store/migrations/versions/"):
                continue
            for node in ast.walk(ast.parse(path.read_text(), name)):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT and (name, node.name) not in EXEMPT:
                    found.append(f"{name}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_over_60_lines_but_the_training_loop():
    assert long_functions() == []


def test_the_check_sees_a_long_function(tmp_path, monkeypatch):
    import tests.unit.test_function_length as me

    (tmp_path / "app").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "app" / "long.py").write_text(f"def f():\n{body}\n")
    monkeypatch.setattr(me, "ROOT", tmp_path)
    assert long_functions() == [f"app/long.py:1 f ({LIMIT + 1} lines)"]
