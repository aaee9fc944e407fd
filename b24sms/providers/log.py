"""The `log` provider: writes each message to the log and calls it delivered. For trials and development."""
import logging

from b24sms.providers.base import DELIVERED, Accepted, Balance, Provider, StatusReport
from b24sms.rules.errors import N_

logger = logging.getLogger("b24sms.sms")


class LogProvider(Provider):
    kind = "log"
    title = N_("Log only (no SMS is sent)")
    reports_balance = False
    statuses_per_request = 1000

    def send(self, message):
        logger.info("SMS %s to %s: %s", message.key, message.phone, message.text)
        return Accepted(provider_id=f"log-{message.key}", raw="logged")

    def find_sent(self, message):
        return self.send(message)  # nothing left the machine: "sending" again is harmless

    def statuses(self, messages):
        return [StatusReport(provider_id=m.provider_id, status=DELIVERED, raw="logged") for m in messages]

    def balance(self):
        return Balance(None)
