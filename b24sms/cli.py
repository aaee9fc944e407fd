"""`flask --app wsgi jobs run-once | jobs worker` and `keys rotate`."""
import logging
import signal
import time

import click
from flask import current_app
from flask.cli import AppGroup

from . import jobs, keys
from .db import get_db

logger = logging.getLogger(__name__)
jobs_cli = AppGroup("jobs", help="Background duties: retry sends, poll statuses, report to Bitrix24, heal senders.")
keys_cli = AppGroup("keys", help="Encryption keys for stored secrets.")


@jobs_cli.command("run-once")
def run_once_command():
    """One pass of every background duty (for cron, every minute)."""
    with get_db().runner_lock() as mine:
        if not mine:
            click.echo("another job runner is at work on this SQLite database: nothing to do")
            return
        click.echo(f"pass: {jobs.run_once(get_db(), current_app.config)}")


@jobs_cli.command("worker")
@click.option("--interval", type=int, default=None, help="Seconds between passes (default: WORKER_INTERVAL).")
def worker_command(interval):
    """Run passes in a loop until SIGTERM/SIGINT."""
    interval = interval or current_app.config["WORKER_INTERVAL"]
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    click.echo(f"worker: a pass every {interval} s")
    while not stopping:
        try:
            with get_db().runner_lock() as mine:
                if mine:
                    logger.info("pass: %s", jobs.run_once(get_db(), current_app.config))
                else:
                    logger.info("another job runner is at work on this SQLite database: pass skipped")
        except Exception:  # one bad pass must not stop the worker
            logger.exception("job pass failed")
        for _ in range(interval * 10):
            if stopping:
                break
            time.sleep(0.1)
    click.echo("worker: stopped")


@keys_cli.command("rotate")
def rotate_command():
    """Re-encrypt every stored secret with the first key of ENCRYPTION_KEYS."""
    count = keys.rotate(get_db())
    click.echo(f"re-encrypted {count} secrets with the first key")


def init_app(app):
    app.cli.add_command(jobs_cli)
    app.cli.add_command(keys_cli)
