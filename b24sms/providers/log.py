"""The `log` provider: writes each message to the log and calls it delivered. For trials and development.

It also "receives" SMS on the numbers an admin gives it: a form pushed to the account's inbound URL (`id`, `from`,
`to`, `text`) is a client's reply. Nothing of a real network sets that URL, so there is nothing to hook; the local
demo's Bitrix24 stand-in posts such forms (b24sms/demo/two_way.py). It is offered only where ENABLE_LOG_PROVIDER is
on (development by default), and its inbound URL carries the account's secret like every provider's.
"""
import logging

from b24sms.providers.base import (
    DELIVERED,
    REPLIES_HOOKED,
    Accepted,
    Balance,
    Provider,
    ProviderError,
    StatusReport,
)
from b24sms.rules.errors import N_

logger = logging.getLogger("b24sms.sms")
REPLY_FIELDS = ("id", "from", "to", "text")  # what a pushed reply carries


class LogProvider(Provider):
    kind = "log"
    title = N_("Log only (no SMS is sent)")
    reports_balance = False
    statuses_per_request = 1000
    # "Hooked": every number of the account receives at its inbound URL as soon as it is saved; no cabinet to
    # paste the URL into, no API to tell.
    reply_ways = frozenset({REPLIES_HOOKED})

    def send(self, message):
        logger.info("SMS %s to %s: %s", message.key, message.phone, message.text)
        return Accepted(provider_id=f"log-{message.key}", raw="logged")

    def find_sent(self, message):
        return self.send(message)  # nothing left the machine: "sending" again is harmless

    def statuses(self, messages):
        return [StatusReport(provider_id=m.provider_id, status=DELIVERED, raw="logged") for m in messages]

    def balance(self):
        return Balance(None)

    def hook_replies(self, number, url):
        """Nothing to tell anyone: the number receives at `url` already."""

    def read_replies(self, pushed):
        fields = pushed.fields
        raw = {name: fields.get(name) for name in REPLY_FIELDS}
        reply = self.reply(raw, fields.get("id"), fields.get("from"), fields.get("to"), fields.get("text"))
        if reply is None:
            raise ProviderError("a reply needs an id and the number it came from (from)", "bad_reply")
        return [reply]
