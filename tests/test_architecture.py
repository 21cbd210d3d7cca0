"""House rules that a reader would otherwise have to check by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_never_imports_streamlit() -> None:
    offenders = [
        str(path.relative_to(PROJECT))
        for path in (PROJECT / "core").rglob("*.py")
        if any(name == "streamlit" or name.startswith("streamlit.") for name in _imported_modules(path))
    ]
    assert offenders == []


def test_pages_run_nothing_at_import() -> None:
    """Streamlit's legacy multipage mode can execute pages/*.py directly, past app.py's gate (DESIGN.md)."""
    definitions = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    offenders = []
    for path in sorted((PROJECT / "pages").glob("*.py")):
        for index, node in enumerate(ast.parse(path.read_text()).body):
            is_docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            is_constant = isinstance(node, (ast.Assign, ast.AnnAssign)) and not isinstance(node.value, ast.Call)
            if not (is_docstring or is_constant or isinstance(node, definitions)):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_no_url_path_is_also_a_pages_module_name() -> None:
    """Until a session has called st.navigation, Streamlit maps /<name> to pages/<name>.py (legacy mode).

    When no URL path of ours is also a module name, such a first request finds no legacy page, falls back to
    app.py, and app.py's own navigation (with its login gate) serves the page: /login works right after a start.
    """
    url_paths = re.findall(r'url_path="([^"]+)"', (PROJECT / "app.py").read_text())
    modules = {path.stem for path in (PROJECT / "pages").glob("*.py")}
    assert len(url_paths) >= 10
    assert modules & set(url_paths) == set()


def test_only_migrations_define_the_schema_of_a_fresh_database() -> None:
    """The app never calls create_all: a fresh database is built by the first migration alone."""
    sources = [p for p in PROJECT.rglob("*.py") if ".venv" not in p.parts and "tests" not in p.parts]
    assert not [str(p.relative_to(PROJECT)) for p in sources if "create_all(" in p.read_text()]
