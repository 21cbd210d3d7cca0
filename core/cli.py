"""`python -m core <command>`: administration from the shell and cron."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.config import load_settings
from core.db import make_engine, migrate, unit_of_work
from core.demo import DEMO_SLUG, seed_demo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description="Event Orders administration.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("demo", help="create the demo event unless it exists (migrates first)")
    args = parser.parse_args(argv)

    engine = make_engine(load_settings().database_url)
    try:
        migrate(engine)
        if args.command == "migrate":
            print("Database is up to date.")
        elif args.command == "demo":
            with unit_of_work(engine) as session:
                created = seed_demo(session)
            print(f"Demo event {'created' if created else 'already exists'}: /?event={DEMO_SLUG}")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
