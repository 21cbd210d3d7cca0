"""A process that keeps placing orders, for backups taken under load: `python -m tests.backup_writer URL ACKS STOP`.

After each order commits, its reference is appended to ACKS (flushed and synced): a reference in that file is an
order the app acknowledged. It stops when the file STOP exists, or after MAX_SECONDS or MAX_ORDERS.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from sqlalchemy import select

from core.db import make_engine, unit_of_work
from core.models import Event
from core.orders import place_order
from tests.factories import answers
from tests.factories.stock import CODE_KEY

MAX_SECONDS = 120
MAX_ORDERS = 20_000


def main(url: str, acks: Path, stop: Path) -> int:
    engine = make_engine(url)
    deadline = time.monotonic() + MAX_SECONDS
    with acks.open("a") as out:
        for n in range(MAX_ORDERS):
            if stop.exists() or time.monotonic() > deadline:
                break
            with unit_of_work(engine) as session:
                event = session.scalars(select(Event).where(Event.slug == "test-event")).one()
                receipt = place_order(session, event, answers(name=f"Writer {n}", email=f"writer{n}@example.org"),
                                      idempotency_key=f"writer-{n}", code_key=CODE_KEY)
            out.write(receipt.reference + "\n")
            out.flush()
            os.fsync(out.fileno())
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
