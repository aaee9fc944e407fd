"""gunicorn reads this file from the working directory by itself; the Procfile's options stay on its command line.

With PROMETHEUS_MULTIPROC_DIR set (b24sms/metrics.py), each worker writes its metrics to files there: when one
exits, its live files are marked dead. Emptying the directory is the start script's job, before gunicorn and the
job worker start (they may share it), not gunicorn's.
"""
import os

from prometheus_client import multiprocess


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
