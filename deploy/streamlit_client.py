"""A Streamlit session driven over the server's websocket (`/_stcore/stream`) with the messages a browser sends.

Used to warm a freshly started worker (`deploy/serve.py`), by the tests that need a client address of their
own choosing (a browser cannot pick the address it connects from), and by `bench/bench_sessions.py`. The server
does everything it does for a browser (the session, each script run, callbacks); only the drawing is left out.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from websockets.asyncio.client import ClientConnection, connect

T = TypeVar("T")
TIMEOUT_SECONDS = 120
# How the public page shows an order reference (pages/order_page.py).
REFERENCE = re.compile(r"reference is \*\*`([A-Z0-9-]+)`\*\*")
FINISHED = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)


@dataclass
class Run:
    """What one script run drew: its widgets' ids by label (and the fragment of each), how many elements, its
    text, what went wrong, when a reference came."""

    widgets: dict[str, str] = field(default_factory=dict)
    fragments: dict[str, str] = field(default_factory=dict)  # widget id -> the fragment drawing it ("" if none)
    elements: int = 0
    texts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reference: str | None = None
    reference_after: float | None = None  # seconds from sending the request


class Session:
    """One browser tab as the server sees it: a websocket asking for script runs and reading what they draw.

    `headers` go with the websocket's opening request (as a browser's cookies would); `local_address` is the
    address to connect from (any of 127.0.0.0/8 on Linux), so that a test can be several clients.
    """

    def __init__(self, url: str, query_string: str = "", *, page: str = "", headers: Mapping[str, str] | None = None,
                 local_address: str | None = None, timeout: float = TIMEOUT_SECONDS):
        self.ws_url = url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"
        self.query_string = query_string
        self.page_name = page
        self.headers = dict(headers or {})
        self.local_address = local_address
        self.timeout = timeout
        self.widgets: dict[str, str] = {}
        self.fragments: dict[str, str] = {}
        self.page_script_hash = ""
        self._connection: ClientConnection | None = None

    async def __aenter__(self) -> Session:
        extra: dict[str, Any] = {}
        if self.local_address is not None:
            extra["local_addr"] = (self.local_address, 0)
        self._connection = await connect(self.ws_url, subprotocols=["streamlit"], max_size=None, proxy=None,
                                         open_timeout=self.timeout, ping_interval=None,
                                         additional_headers=self.headers, **extra)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._connection is not None
        await self._connection.close()

    async def run(self, values: Mapping[str, str | int | bool] | None = None, click: str | None = None) -> Run:
        """Rerun the script with `values` in the widgets labelled so (and `click` pressed); wait for it to end."""
        assert self._connection is not None
        states = [_widget_state(self.widgets, label, value) for label, value in (values or {}).items()]
        if click is not None:
            states.append(WidgetState(id=_widget_id(self.widgets, click), trigger_value=True))
        # As a browser does: a change inside a fragment (st.fragment) reruns only that fragment.
        fragments = {self.fragments.get(state.id, "") for state in states}
        fragment = fragments.pop() if len(fragments) == 1 else ""
        message = BackMsg(rerun_script=ClientState(query_string=self.query_string, fragment_id=fragment,
                                                   widget_states=WidgetStates(widgets=states),
                                                   page_script_hash=self.page_script_hash,
                                                   page_name="" if self.page_script_hash else self.page_name))
        run, finished = Run(), ForwardMsg.FINISHED_SUCCESSFULLY
        started = time.perf_counter()
        await self._connection.send(message.SerializeToString())
        async with asyncio.timeout(self.timeout):
            while True:
                forward = ForwardMsg()
                forward.ParseFromString(await self._connection.recv())
                kind = forward.WhichOneof("type")
                if kind == "new_session":
                    self.page_script_hash = forward.new_session.page_script_hash
                elif kind == "navigation":  # st.navigation ran: the page drawn, which the next rerun must name
                    self.page_script_hash = forward.navigation.page_script_hash
                elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                    run.elements += 1
                    _read_element(forward.delta.new_element, forward.delta.fragment_id, run, started)
                elif kind == "script_finished" and forward.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    finished = forward.script_finished
                    if finished not in FINISHED:
                        run.problems.append(f"script finished with status {finished}")
                    break
        if finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:  # the rest of the page is still there
            if not run.elements:  # what a server does with a fragment it no longer knows: log it, draw nothing
                run.problems.append("the fragment's rerun drew nothing")
            kept = {label: widget for label, widget in self.widgets.items() if self.fragments.get(widget) != fragment}
            self.widgets, self.fragments = {**kept, **run.widgets}, {**self.fragments, **run.fragments}
        else:
            self.widgets, self.fragments = run.widgets, run.fragments
        return run


def _widget_id(widgets: Mapping[str, str], label: str) -> str:
    if label not in widgets:
        raise LookupError(f"no widget labelled {label!r} on the page (have {sorted(widgets)})")
    return widgets[label]


def _widget_state(widgets: Mapping[str, str], label: str, value: str | int | bool) -> WidgetState:
    """A widget's value as the browser sends it: text and choices as strings, ticks as bools, counts as ints."""
    state = WidgetState(id=_widget_id(widgets, label))
    if isinstance(value, bool):
        state.bool_value = value
    elif isinstance(value, int):
        state.int_value = value
    else:
        state.string_value = value
    return state


def _read_element(element: Any, fragment: str, run: Run, started: float) -> None:
    kind = element.WhichOneof("type")
    body = getattr(element, kind)
    if hasattr(body, "label") and hasattr(body, "id") and body.id:
        run.widgets[body.label] = body.id
        run.fragments[body.id] = fragment
    if kind in ("markdown", "alert"):
        run.texts.append(body.body)
        if kind == "alert" and body.format == body.ERROR:
            run.problems.append(f"error shown: {body.body}")
        if run.reference is None and (match := REFERENCE.search(body.body)):
            run.reference = match.group(1)
            run.reference_after = time.perf_counter() - started
    elif kind == "exception":
        run.problems.append(f"exception: {body.type}: {body.message}")


async def open_page(url: str, query_string: str = "", *, page: str = "", timeout: float = TIMEOUT_SECONDS) -> Run:
    """One visit: connect, run the script once, disconnect (what warming a worker needs)."""
    async with Session(url, query_string, page=page, timeout=timeout) as session:
        return await session.run()


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run `awaitable` to its end in a new event loop of its own thread; works where a loop is already running
    in this thread (Playwright's sync API keeps one)."""
    async def wrapped() -> T:
        return await awaitable

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wrapped()).result()
