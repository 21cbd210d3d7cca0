"""House rules that a reader would otherwise have to check by hand."""

from __future__ import annotations

import ast
import importlib
import re
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import errors
from core.errors import DomainError

PROJECT = Path(__file__).resolve().parent.parent
CORE = PROJECT / "core"

# Every core module in one layer (README, "Architecture"). A new module must be placed here, which is the point.
FOUNDATION = frozenset({"config", "db", "models", "errors", "throttle", "auth", "audit", "tokens", "spreadsheets", "money",
                        "images", "mailer", "sms", "markup", "login_throttle", "proxies", "wording",
                        # The vendor's link in its mails: made from config, tokens and models, filled in by the outbox.
                        "portal_links"})
FORM_LANGUAGE = frozenset({"forms", "form_versions"})
ATTENDEE_SIDE = frozenset({"events", "catalogue", "codes", "orders", "submissions", "lookup"})
BACK_OFFICE = frozenset({"event_admin", "catalogue_admin", "code_admin", "order_admin", "dashboard", "exports",
                         "vendor_batches", "status_upload", "form_builder", "form_drafts", "users",
                         "backups", "setup_checklist", "event_copy",
                         # A vendor's portal is a narrow window on the back office: its exports and fulfilment.
                         "vendor_portal"})
# Flows both sides (and the timer) use: each is one home for one thing that happens to an order or an event.
FLOWS = frozenset({"stock", "fulfilment", "order_mail", "mail_templates", "outbox", "vendors", "purge", "lifecycle"})
ENTRY_POINTS = frozenset({"cli", "demo", "__main__", "__init__"})
LAYERS = (FOUNDATION, FORM_LANGUAGE, ATTENDEE_SIDE, BACK_OFFICE, FLOWS, ENTRY_POINTS)


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


@pytest.mark.parametrize("folder", ["pages", "ui"])
def test_pages_and_ui_run_nothing_at_import(folder: str) -> None:
    """Streamlit's legacy multipage mode can execute pages/*.py directly, past app.py's gate (DESIGN.md); and a
    screen imports ui/, so ui/ must not run anything either."""
    definitions = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    offenders = []
    for path in sorted((PROJECT / folder).glob("*.py")):
        for index, node in enumerate(ast.parse(path.read_text()).body):
            is_docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            is_constant = isinstance(node, (ast.Assign, ast.AnnAssign)) and (
                not isinstance(node.value, ast.Call) or _is_type_variable(node.value))
            if not (is_docstring or is_constant or isinstance(node, definitions)):
                offenders.append(f"{folder}/{path.name}:{node.lineno}")
    assert offenders == []


def _is_type_variable(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Name) and call.func.id == "TypeVar"


# --- screens: pages/<url>_page.py, thin, never importing each other ---------------------------------------------

PAGES = PROJECT / "pages"
UI = PROJECT / "ui"


def _registered_screens() -> dict[str, str]:
    """{url_path: module} for every `st.Page(<module>.render, url_path=...)` in app.py."""
    screens: dict[str, str] = {}
    for node in ast.walk(ast.parse((PROJECT / "app.py").read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Page":
            target = node.args[0]
            url = next(k.value.value for k in node.keywords if k.arg == "url_path" and isinstance(k.value, ast.Constant))
            assert isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name), ast.dump(target)
            screens[url] = target.value.id
    return screens


def test_each_registered_url_has_its_screen_named_after_it_and_each_screen_is_registered() -> None:
    """`/<url>` is `pages/<url with - as _>_page.py`, whose render() app.py registers; nothing else is in pages/."""
    screens = _registered_screens()
    assert len(screens) >= 15
    assert {url: module for url, module in screens.items() if module != url.replace("-", "_") + "_page"} == {}
    assert sorted(screens.values()) == sorted(path.stem for path in PAGES.glob("*.py"))
    for module in screens.values():
        tree = ast.parse((PAGES / f"{module}.py").read_text())
        assert any(isinstance(node, ast.FunctionDef) and node.name == "render" for node in tree.body), module


def _imported_from(path: Path, package: str) -> list[str]:
    return sorted(name for name in _imported_modules(path) if name == package or name.startswith(f"{package}."))


def test_a_screen_never_imports_a_screen() -> None:
    """Shared pieces live in ui/; a screen that borrows from another couples two URLs."""
    assert {path.stem: _imported_from(path, "pages") for path in PAGES.glob("*.py")
            if _imported_from(path, "pages")} == {}


def test_ui_never_imports_pages() -> None:
    assert {path.stem: _imported_from(path, "pages") for path in UI.glob("*.py")
            if _imported_from(path, "pages")} == {}


def test_screens_are_thin() -> None:
    """A screen reads widgets, calls core through ui.feedback and draws the result (DESIGN.md); rules live in
    core/ and shared drawing in ui/. Lines of each file, comments and docstrings included."""
    lengths = {path.stem: len(path.read_text().splitlines()) for path in PAGES.glob("*.py")}
    assert statistics.median(lengths.values()) <= 90
    assert {name: length for name, length in lengths.items() if length > 200} == {}


def test_no_url_path_is_also_a_pages_module_name() -> None:
    """Until a session has called st.navigation, Streamlit maps /<name> to pages/<name>.py (legacy mode).

    When no URL path of ours is also a module name, such a first request finds no legacy page, falls back to
    app.py, and app.py's own navigation (with its login gate) serves the page: /login works right after a start.
    """
    url_paths = list(_registered_screens())
    modules = {path.stem for path in PAGES.glob("*.py")}
    assert len(url_paths) >= 10
    assert modules & set(url_paths) == set()


def test_only_migrations_define_the_schema_of_a_fresh_database() -> None:
    """The app never calls create_all: a fresh database is built by the first migration alone."""
    sources = [p for p in PROJECT.rglob("*.py") if ".venv" not in p.parts and "tests" not in p.parts]
    assert not [str(p.relative_to(PROJECT)) for p in sources if "create_all(" in p.read_text()]


# --- core's import graph ----------------------------------------------------------------------------------------


def _core_imports(path: Path) -> Iterator[tuple[str, ast.stmt]]:
    """(core module, import statement) for every import of a core module in `path`: at the top, inside
    functions and under TYPE_CHECKING alike."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "core":
                yield from ((alias.name, node) for alias in node.names)
            elif node.module.startswith("core."):
                yield node.module.split(".")[1], node
        elif isinstance(node, ast.Import):
            yield from ((alias.name.split(".")[1], node) for alias in node.names if alias.name.startswith("core."))


def _core_graph() -> dict[str, set[str]]:
    return {path.stem: {module for module, _ in _core_imports(path)} - {path.stem}
            for path in sorted(CORE.glob("*.py"))}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    waiting = list(graph[start])
    while waiting:
        module = waiting.pop()
        if module not in seen:
            seen.add(module)
            waiting.extend(graph.get(module, ()))
    return seen


def test_every_core_module_has_one_layer() -> None:
    modules = {path.stem for path in CORE.glob("*.py")}
    placed = [module for layer in LAYERS for module in layer]
    assert sorted(placed) == sorted(set(placed)), "a module is in two layers"
    assert modules == set(placed), "place the new module in a layer (README, Architecture) or drop the stale name"


def test_core_modules_import_each_other_without_a_cycle() -> None:
    """Counting imports inside functions and under TYPE_CHECKING: a circle hidden there is still a circle."""
    graph = _core_graph()
    cycles = sorted({" -> ".join(_cycle_through(graph, module)) for module in graph
                     if module in _reachable(graph, module)})
    assert cycles == []


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str]:
    """A shortest path from `start` back to itself."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for imported in sorted(graph.get(module, ())):
                if imported == start:
                    return paths[module] + [start]
                if imported not in paths:
                    paths[imported] = paths[module] + [imported]
                    following.append(imported)
        frontier = following
    return []


def test_an_import_inside_a_function_says_why_it_is_deferred() -> None:
    """Only a real cost or an optional dependency justifies it, named on its line: `# deferred: <why>`."""
    offenders = []
    for path in sorted(CORE.glob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not re.search(
                        r"#\s*deferred:\s*\S", lines[node.lineno - 1]):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_foundation_modules_import_no_domain_module() -> None:
    """config, db, models, errors and the like build on nothing above them, so anything may use them.

    The one step up: spreadsheets writes an answer (a list, an address) as `forms.format_answer` reads it.
    """
    allowed = {module: FOUNDATION | ({"forms"} if module == "spreadsheets" else set()) for module in FOUNDATION}
    graph = _core_graph()
    assert {module: sorted(graph[module] - allowed[module]) for module in FOUNDATION
            if graph[module] - allowed[module]} == {}


def test_the_attendee_side_never_reaches_the_back_office() -> None:
    """Not directly, nor through a flow it uses: the attendee's path loads no organiser service."""
    graph = _core_graph()
    reached = {module: sorted(_reachable(graph, module) & BACK_OFFICE) for module in sorted(ATTENDEE_SIDE)}
    assert {module: found for module, found in reached.items() if found} == {}


def test_only_entry_points_import_entry_points() -> None:
    graph = _core_graph()
    assert {module: sorted(imported & ENTRY_POINTS) for module, imported in graph.items()
            if imported & ENTRY_POINTS and module not in ENTRY_POINTS} == {}


# --- the DomainError tree ---------------------------------------------------------------------------------------


def _all_core_modules() -> None:
    for path in sorted(CORE.glob("*.py")):
        if path.stem != "__main__":  # runs the command line
            importlib.import_module(f"core.{path.stem}")


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def test_every_domain_error_is_defined_in_errors_py() -> None:
    _all_core_modules()
    defined_elsewhere = sorted(f"{cls.__module__}.{cls.__name__}" for cls in set(_subclasses(DomainError))
                               if cls.__module__.startswith("core.") and cls.__module__ != "core.errors")
    assert defined_elsewhere == []


def test_the_tree_in_errors_docstring_is_the_tree_of_classes() -> None:
    listed = _tree_in_docstring(errors.__doc__ or "")
    actual = {cls.__name__: (cls.__bases__[0].__name__, tuple(base.__name__ for base in cls.__bases__[1:]))
              for cls in set(_subclasses(DomainError)) if cls.__module__ == "core.errors"}
    assert listed == actual


def _tree_in_docstring(doc: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{class: (base, other bases)} from the indented tree under "DomainError" in the docstring."""
    lines = doc.splitlines()
    start = next(index for index, line in enumerate(lines) if line.strip() == "DomainError")
    root_indent = len(lines[start]) - len(lines[start].lstrip())
    parents = {root_indent: "DomainError"}
    tree: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in lines[start + 1:]:
        match = re.match(r"(\s*)([A-Z]\w*)(?: \(also ([\w, ]+)\))?", line)
        if not line.strip() or match is None:
            break
        indent = len(match.group(1))
        parent = parents.get(indent - 4)
        if parent is None:
            pytest.fail(f"misindented line in the errors tree: {line!r}")
        also = tuple(name.strip() for name in match.group(3).split(",")) if match.group(3) else ()
        tree[match.group(2)] = (parent, also)
        parents = {level: name for level, name in parents.items() if level < indent} | {indent: match.group(2)}
    return tree
