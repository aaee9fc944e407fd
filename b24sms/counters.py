"""The metrics counted as things happen, in whichever process does them (see b24sms.metrics for the scrape):
provider calls by provider kind, operation and outcome, job duty durations and failures, messages the guard rails
held or refused by reason, clients' replies stored. No database here, so
the provider layer may count its calls."""
import threading
import time
from contextlib import contextmanager
from functools import wraps

from prometheus_client import Counter, Histogram

# The Provider methods that talk to the provider; each call is counted once (b24sms/providers/base.py).
PROVIDER_OPERATIONS = ("send", "send_many", "statuses", "balance", "find_sent", "check_credentials", "sender_names")

PROVIDER_CALLS = Counter(
    "b24sms_provider_calls",
    "Calls to SMS providers by provider kind, operation and outcome (ok, or the error kind).",
    ["provider", "operation", "outcome"],
)
JOB_DUTY_SECONDS = Histogram(
    "b24sms_job_duty_seconds",
    "How long one job duty took in one pass.",
    ["duty"],
    # A pass has a budget of JOB_PASS_SECONDS (50 s by default); a duty may use all of it.
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100),
)
JOB_DUTY_FAILURES = Counter("b24sms_job_duty_failures", "Job duties that raised, by duty.", ["duty"])
# The guard rails (b24sms/flows/guards.py): messages held back (quiet hours) and refused (stop list, repeat, caps).
GUARD_HELD = Counter("b24sms_messages_held", "Messages the guard rails held back for later, by reason.", ["reason"])
GUARD_REFUSED = Counter("b24sms_messages_refused", "Messages the guard rails refused (failed), by reason.",
                        ["reason"])

# Clients' replies (b24sms/flows/replies.py), counted once each, when stored.
REPLIES = Counter("b24sms_incoming_messages", "Clients' replies stored, by provider kind and whether they were a "
                  "stop word.", ["provider", "stop_word"])

_call_depth = threading.local()  # provider methods call one another (find_sent -> send): count the outer one


def counted_provider_call(operation, method):
    """`method` of a provider class, counting each outermost call by the provider's kind and its outcome."""

    @wraps(method)
    def counted(provider, *args, **kwargs):
        depth = getattr(_call_depth, "value", 0)
        _call_depth.value = depth + 1
        outcome = "ok"
        try:
            return method(provider, *args, **kwargs)
        except Exception as exc:
            kind = getattr(exc, "kind", None)  # a ProviderError's; anything else is a bug of ours
            outcome = kind if isinstance(kind, str) else "unexpected"
            raise
        finally:
            _call_depth.value = depth
            if depth == 0:
                PROVIDER_CALLS.labels(provider.kind or type(provider).__name__, operation, outcome).inc()

    return counted


@contextmanager
def measured_duty(name):
    """Times one job duty; one that raises is counted as failed (the exception goes on)."""
    started = time.monotonic()
    try:
        yield
    except Exception:
        JOB_DUTY_FAILURES.labels(name).inc()
        raise
    finally:
        JOB_DUTY_SECONDS.labels(name).observe(time.monotonic() - started)


def count_replies(kind, rows):
    """The replies just stored (their rows: each has `stop_word`)."""
    for row in rows:
        REPLIES.labels(provider=kind, stop_word="yes" if row["stop_word"] else "no").inc()
