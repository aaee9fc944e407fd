"""Prostor SMS, JSON API v2 (the iqsms platform). Auth is login/password in every JSON body."""
from b24sms.providers.base import (
    DELIVERED,
    FAILED,
    QUEUED,
    SENT,
    UNDELIVERED,
    Accepted,
    AnswerLost,
    Balance,
    InvalidCredentials,
    InvalidRecipient,
    NoMoney,
    Provider,
    ProviderError,
    RejectedContent,
    RetryLater,
    SenderRejected,
    Setting,
    StatusReport,
    approved_names,
)
from b24sms.rules.errors import N_
from b24sms.rules.sender_names import ALPHA_NAME_OR_NUMBER


class Prostor(Provider):
    kind = "prostor"
    title = "Prostor SMS"
    cabinet_url = "https://lk.prostor-sms.ru/"
    keys_help = N_("The login and password of your Prostor SMS cabinet; sender names are under “Senders”.")
    credential_settings = (
        Setting("login", N_("Login")),
        Setting("password", N_("Password"), secret=True, input="password"),
    )
    sender_setting = Setting("sender", N_("Sender name"), required=False,
                             help=N_("A sender name approved in your Prostor SMS account; empty for the default."))
    sender_name_limits = ALPHA_NAME_OR_NUMBER  # the common Russian rule (assumed: not in its docs)
    default_base_url = "https://api.prostor-sms.ru/messages/v2/"  # PROSTOR_API_URL overrides it
    offer_rank = 2
    statuses_per_request = 200
    sends_per_request = 200

    status_table = {
        "accepted": QUEUED,
        "queued": QUEUED,
        "smsc submit": SENT,
        "delivered": DELIVERED,
        "delivery error": UNDELIVERED,
        "smsc reject": FAILED,
        "incorrect id": FAILED,
    }
    error_table = {
        "error authorization": InvalidCredentials,
        "not enough balance": NoMoney,
        "invalid mobile phone": InvalidRecipient,
        "text is empty": RejectedContent,
        "sender address invalid": SenderRejected,
        "not enough credits": NoMoney,
        "request limit exceeded": RetryLater,
    }

    def _post(self, path, payload):
        body = {"login": self.credentials.get("login", ""), "password": self.credentials.get("password", "")}
        body.update(payload)
        answer = self.json_of(self.request("POST", path, json=body))
        if not isinstance(answer, dict):
            raise ProviderError(f"{self.title} answered with an unexpected shape")
        if answer.get("status") != "ok":
            raise self.error(text=answer.get("description") or answer.get("status") or "no status in the answer")
        return answer

    def send(self, message):
        return self.send_as_batch(message)

    def send_many(self, messages):
        items = []
        for message in messages:
            item = {"clientId": message.key, "phone": message.phone, "text": message.text}
            if message.sender:
                item["sender"] = message.sender
            items.append(item)
        answer = self._post("send.json", {"messages": items})
        results = [r for r in answer.get("messages") or [] if isinstance(r, dict)]
        by_key = {str(r.get("clientId")): r for r in results if r.get("clientId") is not None}
        if len(messages) == 1 and not by_key and results:  # an answer without clientId: the one message's
            by_key = {messages[0].key: results[0]}
        return [self._accepted(by_key.get(message.key)) for message in messages]

    def _accepted(self, result):
        if result is None:  # the answer does not name it: it may have it; asking (a repeat of the clientId) tells
            return AnswerLost(f"{self.title} answered without this message", "missing_in_answer")
        status = str(result.get("status", ""))
        if status.lower() != "accepted" or not result.get("smscId"):
            return self.error(text=status or "the message was not accepted")
        return Accepted(provider_id=str(result["smscId"]), status=QUEUED, raw=status)

    def find_sent(self, message):
        # Prostor drops a repeated clientId and answers with the first message's smscId: sending again is asking.
        try:
            return self.send(message)
        except RetryLater:
            raise
        except ProviderError:
            return None  # refused now, so it was not taken before either

    def statuses(self, messages):
        # smscId is numeric at Prostor: send it back as the number it was.
        ids = [int(m.provider_id) if m.provider_id.isdigit() else m.provider_id for m in messages]
        answer = self._post("status.json", {"messages": [{"smscId": pid} for pid in ids]})
        reports = []
        for item in answer.get("messages") or []:
            if not isinstance(item, dict):
                continue  # an odd entry: its message is simply polled again later
            raw = str(item.get("status", ""))
            reports.append(StatusReport(provider_id=str(item.get("smscId", "")), status=self.map_status(raw), raw=raw))
        return reports

    def balance(self):
        answer = self._post("balance.json", {})
        accounts = answer.get("balance") or []
        if not accounts:
            return Balance(None)
        first = accounts[0] if isinstance(accounts[0], dict) else {}
        return Balance(self.decimal(first.get("balance")), first.get("type"))

    def sender_names(self):
        # {"status": "ok", "senders": [{"name", "status": active|default|new|pending|blocked, "info"}]}: the
        # active ones and the account's default may be sent with.
        return approved_names(self._post("senders.json", {}).get("senders"), _read_sender)


SENDABLE = {"active", "default"}  # the other sender states: new, pending (moderation), blocked


def _read_sender(entry):
    if not isinstance(entry, dict):
        return None
    return entry.get("name"), str(entry.get("status", "")).lower() in SENDABLE
