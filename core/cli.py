"""`python -m core <command>`: administration from the shell and cron."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.backups import MAX_KEEP_DAYS, backup_database, restore_backup
from core.config import Settings, backup_dir, load_settings, local_public_base_url
from core.db import make_engine, migrate, read_only, unit_of_work
from core.demo import DEMO_SLUG, seed_demo
from core.errors import DomainError
from core.lifecycle import run_tick
from core.models import UserRole, utcnow
from core.outbox import drain_outbox
from core.purge import event_id_by_slug, purge_event, purge_plan, receipt_fallback, scrub_storage
from core.users import change_password, create_user, ensure_initial_admin, list_users, remove_user


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    if args.command == "public-url":
        print(local_public_base_url(settings, args.port))
        return 0
    if args.command == "restore":
        # Before any engine touches the target: it must be restored as the backup has it, not migrated first.
        try:
            restore_backup(Path(args.file), args.to or settings.database_url, force=args.force)
        except DomainError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"Restored {args.file}. The app migrates it, if it is older, when it starts.")
        return 0
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        if args.command == "migrate":
            print("Database is up to date.")
        elif args.command == "demo":
            with unit_of_work(engine) as session:
                created = seed_demo(session)
                _announce_initial_admin(session)
            print(f"Demo event {'created' if created else 'already exists'}: /?event={DEMO_SLUG}")
        elif args.command == "outbox":
            report = drain_outbox(engine, settings)
            print(f"Outbox: {report.sent} sent, {report.retrying} to retry, {report.failed} failed, "
                  f"{report.held} held.")
        elif args.command == "tick":
            report = run_tick(engine, settings)
            print(report.summary)
            if report.failed:
                return 1  # cron mails it, systemd marks the unit failed; the log has the details
        elif args.command == "purge":
            _purge(engine, settings, args)
        elif args.command == "backup":
            result = backup_database(engine, Path(args.to) if args.to else backup_dir(settings),
                                     keep_days=args.keep_days)
            print(f"Backup written: {result.path}; backups older than {result.keep_days} days deleted: "
                  f"{len(result.pruned)}.")
        elif args.command == "users" and args.action == "list":
            with read_only(engine) as session:
                for user in list_users(session, None):
                    print(f"{user.username}\t{user.role.value}\t{user.display_name}")
        elif args.command == "users":
            with unit_of_work(engine) as session:
                _change_users(session, args)
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Event Orders administration.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("demo", help="create the demo event and, on an empty database, the admin user")
    commands.add_parser("outbox", help="send the mail that is due (or hold it while SMTP is not configured)")
    commands.add_parser("tick", help="run the timer's work once: record events opening and closing, send vendor "
                                     "lists at the cutoff, purge what is due, send the mail")
    public_url = commands.add_parser("public-url", help="print PUBLIC_BASE_URL for an app serving on this machine "
                                                         "(the configured one, else http://127.0.0.1:PORT)")
    public_url.add_argument("--port", type=int, required=True, help="the port the app serves on")
    purge = commands.add_parser("purge", help="destroy an event's personal data now (see README, Privacy)")
    purge.add_argument("slug", help="the event's address name")
    mode = purge.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="only show what would be destroyed")
    mode.add_argument("--yes", action="store_true", help="destroy it, without asking")
    backup = commands.add_parser("backup", help="write a consistent copy of the database while the app runs "
                                                "(see README, Backups); it holds personal data")
    backup.add_argument("--to", metavar="DIR", help="the directory to write to (default: BACKUP_DIR, data/backups)")
    backup.add_argument("--keep-days", type=int, metavar="N",
                        help="delete backups there older than N days (default: the shortest retention of the "
                             f"events not purged yet, at most {MAX_KEEP_DAYS})")
    restore = commands.add_parser("restore", help="bring a backup back into a fresh database (stop the app first)")
    restore.add_argument("file", help="a backup written by `backup`")
    restore.add_argument("--to", metavar="URL", help="the database to restore into (default: DATABASE_URL)")
    restore.add_argument("--force", action="store_true", help="replace what a non-empty database holds")
    users = commands.add_parser("users", help="manage organiser and admin accounts")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user (asks for the password, or reads it from stdin)")
    add.add_argument("username")
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--email", default="", help="where alarms about this user's events go")
    add.add_argument("--role", choices=[r.value for r in UserRole], default=UserRole.ORGANISER.value)
    passwd = actions.add_parser("passwd", help="set a user's password and log them out everywhere")
    passwd.add_argument("username")
    remove = actions.add_parser("remove", help="remove a user")
    remove.add_argument("username")
    actions.add_parser("list", help="list users")
    return parser


def _purge(engine: Engine, settings: Settings, args: argparse.Namespace) -> None:
    now = utcnow()
    if args.dry_run:
        with read_only(engine) as session:
            plan = purge_plan(session, None, event_id_by_slug(session, args.slug), now)
        if plan.receipt is not None:
            print(f"{args.slug} was purged on {plan.receipt.at:%Y-%m-%d %H:%M} UTC by {plan.receipt.by}.")
            return
        when = f"{plan.automatic_at:%Y-%m-%d %H:%M} UTC" if plan.automatic_at else "never (no end or close)"
        print(f"Dry run for {args.slug}; purged automatically: {when}. Would destroy:")
        for line in plan.lines:
            print(f"  {line.count:>8}  {line.label}")
        print(f"Would keep {plan.orders_kept} orders and {plan.order_lines_kept} order lines.")
        return
    with unit_of_work(engine) as session:
        receipt = purge_event(session, None, event_id_by_slug(session, args.slug), now=now,
                              notify_fallback=receipt_fallback(settings))
    scrub_storage(engine)
    if not receipt.created:
        print(f"{args.slug} was purged before, on {receipt.at:%Y-%m-%d %H:%M} UTC; nothing to do.")
        return
    print(f"Purged {args.slug}: {receipt.total} records destroyed (receipt {receipt.id}); database scrubbed.")
    print(receipt.backup_note)


def _change_users(session: Session, args: argparse.Namespace) -> None:
    if args.action == "add":
        create_user(session, None, username=args.username, display_name=args.name, role=UserRole(args.role),
                    password=_read_password(), email=args.email)
        print(f"Added {args.username}.")
    elif args.action == "passwd":
        change_password(session, None, args.username, _read_password())
        print(f"Password of {args.username} changed; their logins are revoked.")
    elif args.action == "remove":
        remove_user(session, None, args.username)
        print(f"Removed {args.username}.")


def _read_password() -> str:
    """Ask twice on a terminal; otherwise read one line from stdin (for scripts)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first, second = getpass.getpass("Password: "), getpass.getpass("Password again: ")
    if first != second:
        raise DomainError("The two passwords differ.")
    return first


def _announce_initial_admin(session: Session) -> None:
    password = ensure_initial_admin(session)
    if password is not None:
        print("\n  Created the first user: admin")
        print(f"  Password (shown only this once): {password}")
        print("  The first login with it asks for a password of your own.\n")


if __name__ == "__main__":
    sys.exit(main())
