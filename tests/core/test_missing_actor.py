"""Issue 15, point 6: every core service refuses a missing actor with PermissionDenied, never an AttributeError.

The functions that accept None on purpose (the shell and the timer act without a login) say so in their
docstring with the words "A None actor"; all others are called here with `actor=None` and must refuse.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.db import unit_of_work
from core.errors import PermissionDenied
from core.models import Event
from tests.factories import make_shop, make_user

CORE = Path(__file__).resolve().parents[2] / "core"
ACCEPTS_NONE = "A None actor"


def _functions_taking_an_actor() -> Iterator[tuple[str, Callable[..., Any]]]:
    for path in sorted(CORE.glob("*.py")):
        if path.stem in {"__main__", "__init__"}:
            continue
        module = importlib.import_module(f"core.{path.stem}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            actor = inspect.signature(function).parameters.get("actor")
            # `actor` annotated as a str is a username written into a history, not someone acting.
            if function.__module__ == module.__name__ and not name.startswith("_") and actor is not None \
                    and "Actor" in str(actor.annotation):
                yield f"{path.stem}.{name}", function


SERVICES = sorted(_functions_taking_an_actor())


def _argument(parameter: inspect.Parameter, session: Session, event: Event) -> Any:
    """A plausible value for `parameter`: the test's session and event, else something of its annotated type."""
    name, annotation = parameter.name, str(parameter.annotation)
    if name == "session":
        return session
    if name in ("event_id", "outbox_id", "code_id", "vendor_id", "order_id"):
        return event.id
    if name == "event":
        return event
    if name == "fmt":
        return "xlsx"
    if name in ("username", "slug", "key", "item_key", "variant_key", "reference", "name", "text", "email"):
        return "olga" if name == "username" else "x"
    if annotation.startswith(("int", "float")):
        return 1
    if annotation.startswith("str"):
        return "x"
    if annotation.startswith("bytes"):
        return b""
    if annotation.startswith("bool"):
        return False
    if annotation.startswith(("Sequence", "list", "tuple", "Iterable")):
        return []
    if annotation.startswith(("Mapping", "dict")):
        return {}
    return None


@pytest.fixture
def world(engine: Engine) -> tuple[Engine, int]:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        make_user(session, "olga", member_of=[event])
    return engine, event.id


def test_there_are_services_to_check() -> None:
    assert len(SERVICES) >= 60


@pytest.mark.parametrize(("name", "function"), SERVICES, ids=[name for name, _ in SERVICES])
def test_a_missing_actor_is_refused(name: str, function: Callable[..., Any], world: tuple[Engine, int]) -> None:
    if ACCEPTS_NONE in (function.__doc__ or ""):
        pytest.skip("accepts None on purpose (the shell, the timer), as its docstring says")
    engine, event_id = world
    with unit_of_work(engine) as session:
        event = session.get(Event, event_id)
        kwargs = {parameter.name: None if parameter.name == "actor" else _argument(parameter, session, event)
                  for parameter in inspect.signature(function).parameters.values()
                  if parameter.default is inspect.Parameter.empty
                  and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)}
        with pytest.raises(PermissionDenied):
            function(**kwargs)
        session.rollback()
