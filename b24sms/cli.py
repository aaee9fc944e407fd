"""`flask --app wsgi jobs run-once | jobs worker`, `keys rotate` and `db upgrade`, on the app's services.

Failures end in one line and a non-zero exit (cron and release steps see them), never a traceback."""
import gc
import logging
import signal
import time
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from b24sms.flows import jobs
from b24sms.services import EXTENSION, Services
from b24sms.store import canary, keys

logger = logging.getLogger(__name__)
jobs_cli = AppGroup("jobs", help="Background duties: retry sends, poll statuses, report to Bitrix24, heal senders.")
keys_cli = AppGroup("keys", help="Encryption keys for stored secrets.")
db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
YOUNG_OBJECTS = 20_000  # allocations between collections of the youngest objects (Python's default: 700)


def _services() -> Services:
    return current_app.extensions[EXTENSION]


@contextmanager
def _start_up_left_out_of_collections():
    """A pass makes many short-lived objects, which set the cyclic garbage collector off again and again; each of
    its full collections also went over all the process had loaded (modules, the mapped models, the app: about
    50 ms, several times a pass), which outlives the pass anyway, so that is left out of them until the pass
    ends. Young objects are collected after YOUNG_OBJECTS allocations rather than 700: most are freed by then."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@jobs_cli.command("run-once")
def run_once_command():
    """One pass of every background duty (for cron, every minute); exits 1 when a duty failed, naming it."""
    problem = _start_problem()
    if problem is not None:
        raise click.ClickException(f"job pass refused: {problem.message}")
    services = _services()
    with services.db.runner_lock() as mine:
        if not mine:
            click.echo("another job runner is at work on this SQLite database: nothing to do")
            return
        with _start_up_left_out_of_collections():
            report = jobs.run_once(services)
    click.echo(f"pass: {report}")
    if report.failed_duties:
        raise click.ClickException(f"job duties failed: {', '.join(report.failed_duties)} (the log has why)")


@jobs_cli.command("worker")
@click.option("--interval", type=int, default=None, help="Seconds between passes (default: WORKER_INTERVAL).")
def worker_command(interval):
    """Run passes in a loop until SIGTERM/SIGINT; a failed pass is logged and the loop goes on."""
    interval = interval or _services().settings.worker_interval
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    click.echo(f"worker: a pass every {interval} s")
    while not stopping:
        try:
            _worker_pass()
        except Exception:  # one bad pass must not stop the worker
            logger.exception("job pass failed")
        for _ in range(interval * 10):
            if stopping:
                break
            time.sleep(0.1)
    click.echo("worker: stopped")


def _worker_pass():
    problem = _start_problem()
    if problem is not None:
        logger.error("job pass skipped: %s", problem.message)
        return
    services = _services()
    with services.db.runner_lock() as mine:
        if not mine:
            logger.info("another job runner is at work on this SQLite database: pass skipped")
            return
        with _start_up_left_out_of_collections():
            report = jobs.run_once(services)
    logger.info("pass: %s", report)
    if report.failed_duties:
        logger.error("job duties failed: %s", ", ".join(report.failed_duties))


def _start_problem():
    """Why a job pass must not start (keys that cannot read stored secrets, no schema, no database), or None.
    Writes the encryption canary when there is none yet."""
    try:
        return canary.ensure(_services().db)
    except SQLAlchemyError as exc:
        return canary.Problem("database_unavailable",
                              f"The database does not answer ({canary.database_error_line(exc)}).")


@keys_cli.command("rotate")
def rotate_command():
    """Re-encrypt every stored secret with the first key of ENCRYPTION_KEYS (all or nothing)."""
    try:
        count = keys.rotate(_services().db)
    except keys.UnreadableSecret as exc:
        raise click.ClickException(f"keys rotate: {exc}") from None
    click.echo(f"re-encrypted {count} secrets with the first key")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision):
    """Apply migrations up to REVISION (default: head)."""
    _services().db.upgrade(revision)
    click.echo(f"database at {revision}")


def init_app(app):
    app.cli.add_command(jobs_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(db_cli)
