"""SMSC.ru HTTP API: form POSTs to `*.php`, JSON answers (`fmt=3`), login + psw in every request.

Our message key goes out as SMSC's `id`, which takes a number 1..2147483647 or a string of up to 40 Latin
letters, digits and `.-_`: our key is 32 random hex characters, so statuses are asked for by our own key and
the phone. SMSC does not drop a repeated id (a status query answers for the last message with it), so after a
lost answer we ask it (`find_sent`) before sending again.
"""
import logging
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

from b24sms.providers.base import (
    ACCOUNT,
    DELIVERED,
    FAILED,
    QUEUED,
    REPLIES_PASTED,
    REPLIES_PULLED,
    SENT,
    UNDELIVERED,
    UNKNOWN,
    Accepted,
    Balance,
    InvalidCredentials,
    InvalidRecipient,
    NoMoney,
    Provider,
    ProviderError,
    RejectedContent,
    ReplyPage,
    RetryLater,
    Setting,
    StatusReport,
    approved_names,
    digits_only,
    first_of,
)
from b24sms.rules.errors import N_
from b24sms.rules.sender_names import ALPHA_NAME_OR_NUMBER

logger = logging.getLogger(__name__)
MAX_ID = 2_147_483_647
TEXT_ID = re.compile(r"[A-Za-z0-9.\-_]{1,40}")
MOSCOW = timezone(timedelta(hours=3))  # SMSC's clock: Moscow time (UTC+3 all year since 2014)
REPLY_PAGE = 1000  # incoming messages one get_answers request asks for (`cnt`, at most 10 000)
# The fields of an incoming message: `get_answers` lists id, phone, message, to_phone, sent; what SMSC pushes to
# the account's handler URL is documented less surely, so every plausible name is read.
REPLY_ID = ("id", "sms_id", "msg_id", "message_id")
REPLY_SENDER = ("phone", "from", "sender", "phone_from")
REPLY_RECEIVER = ("to_phone", "to", "phone_to", "receiver")
REPLY_TEXT = ("message", "mes", "msg", "text", "sms")
REPLY_TIME = ("sent", "time", "date", "received")


class Smsc(Provider):
    kind = "smsc"
    title = "SMSC.ru"
    cabinet_url = "https://smsc.ru/"
    keys_help = N_(
        "The SMSC.ru login and password (or an API password from Settings); sender names are under “Senders”.")
    credential_settings = (
        Setting("login", N_("Login")),
        Setting("password", N_("Password"), secret=True, input="password",
                help=N_("The account password, or an API password set in the SMSC cabinet.")),
    )
    sender_setting = Setting("sender", N_("Sender name"), required=False,
                             help=N_("A sender name approved in your SMSC account; empty for the default."))
    sender_name_limits = ALPHA_NAME_OR_NUMBER  # the common Russian rule (assumed: not in its docs)
    default_base_url = "https://smsc.ru/sys/"  # SMSC_API_URL overrides it
    offer_rank = 3
    statuses_per_request = 200
    poll_interval = timedelta(minutes=1)  # SMSC allows one bulk status request a minute (error 9 beyond)
    receipts = ACCOUNT
    # Replies come to dedicated receiving numbers: pulled (`get_answers` after the last id: the source of truth) and
    # pushed to the account's one handler URL (shared with the receipts), which only wakes the pull up sooner.
    reply_ways = frozenset({REPLIES_PASTED, REPLIES_PULLED})
    pasted_url_query = "?charset=utf-8"
    replies_help = N_("In the SMSC cabinet, under “Settings” (Настройки пользователя), paste this URL as the "
                      "handler URL for incoming messages, as it is: it ends in ?charset=utf-8, without which SMSC "
                      "sends the text in windows-1251. Delivery statuses come to the same URL.")

    status_table = {
        "-1": QUEUED,  # waiting to be sent (or scheduled)
        "0": SENT,  # handed to the operator
        "1": DELIVERED,
        "2": DELIVERED,  # read
        "4": DELIVERED,  # a link in it was opened
        "3": UNDELIVERED,  # expired
        "20": UNDELIVERED,  # cannot be delivered
        "25": UNDELIVERED,  # the number is unreachable
        "-2": FAILED,  # stopped
        "-3": FAILED,  # not found
        "22": FAILED,  # wrong number
        "23": FAILED,  # prohibited (spam filter, flood, sender name)
        "24": FAILED,  # not enough money
    }
    error_table = {
        "1": ProviderError,  # bad parameters
        "2": InvalidCredentials,  # wrong login/password, or the IP is not allowed
        "3": NoMoney,
        "4": RetryLater,  # the IP is blocked for a while after many errors
        "5": ProviderError,  # bad date format
        "6": RejectedContent,  # the text (or sender name) is forbidden
        "7": InvalidRecipient,  # wrong phone format
        "8": InvalidRecipient,  # cannot be delivered to this number
        "9": RetryLater,  # too many identical requests within a minute
    }

    def _post(self, script, params):
        form = {"login": self.credentials.get("login", ""), "psw": self.credentials.get("password", ""),
                "fmt": "3", "charset": "utf-8", **params}
        answer = self.json_of(self.request("POST", script, data=form))
        if isinstance(answer, dict) and ("error_code" in answer or "error" in answer):
            raise self.error(code=answer.get("error_code"), text=answer.get("error") or "SMSC reported an error")
        return answer

    def send(self, message):
        if not _valid_id(message.key):
            raise ProviderError(f"message key {message.key!r} cannot be an SMSC id", "bad_id")
        params = {"phones": digits_only(message.phone), "mes": message.text, "id": message.key, "cost": "3"}
        if message.sender:
            params["sender"] = message.sender
        answer = self._post("send.php", params)
        if not isinstance(answer, dict) or answer.get("id") in (None, ""):
            raise ProviderError(f"{self.title} answered without a message id")
        # `cost=3` makes SMSC answer the request's price (`cost`, here this one message's: one a request) and its
        # segments (`cnt`), in the account's currency.
        cost = self.cost(answer.get("cost"))
        return Accepted(provider_id=str(answer["id"]), status=QUEUED, raw="accepted", cost=cost,
                        currency=self.account_currency() if cost is not None else None)

    def account_currency(self):
        """The currency SMSC bills in: the account's, by the site it is on (smsc.ru: RUB)."""
        host = urlsplit(self.base_url).hostname or ""
        return next((code for suffix, code in REGIONAL_CURRENCIES.items() if host.endswith(suffix)), "RUB")

    def statuses(self, messages):
        ids = ",".join(m.provider_id for m in messages)
        phones = ",".join(digits_only(m.phone or "") for m in messages)
        try:
            # A trailing comma makes SMSC answer a list even for one message.
            answer = self._post("status.php", {"id": ids + ",", "phone": phones + ","})
        except ProviderError as exc:
            if exc.code == "3" and len(messages) == 1:  # the single-message way of saying "not found"
                return [self._report({"id": messages[0].provider_id, "status": "-3"})]
            raise
        items = answer if isinstance(answer, list) else [answer]
        if len(items) == 1 and isinstance(items[0], dict) and "id" not in items[0] and len(messages) == 1:
            items = [{**items[0], "id": messages[0].provider_id}]  # the single-message shape names no id
        return [self._report(item) for item in items if isinstance(item, dict) and item.get("id") is not None]

    def find_sent(self, message):
        # The one-message shape: it is not a bulk request, so it leaves the account's bulk slot alone.
        try:
            answer = self._post("status.php", {"id": message.key, "phone": digits_only(message.phone)})
        except ProviderError as exc:
            if exc.code == "3":  # SMSC has no message with our id
                return None
            raise
        report = self._report({**answer, "id": message.key}) if isinstance(answer, dict) else None
        if report is None or report.raw == "-3":
            return None
        return Accepted(provider_id=message.key, status=QUEUED if report.status == UNKNOWN else report.status,
                        raw=report.raw)

    def balance(self):
        answer = self._post("balance.php", {})
        if not isinstance(answer, dict):
            raise ProviderError(f"{self.title} answered the balance with an unexpected shape")
        return Balance(self.decimal(answer.get("balance")), answer.get("currency"))

    def sender_names(self):
        # `get=1` lists the names registered in the account and approved by SMSC's moderator:
        # [{"id": 1, "sender": "SHOP"}, ...].
        answer = self._post("senders.php", {"get": "1"})
        return approved_names([answer] if isinstance(answer, dict) else answer,
                              lambda item: (item.get("sender"), True) if isinstance(item, dict) else None)

    def read_receipt(self, receipt):
        fields = receipt.fields
        if not fields.get("id") or fields.get("status") in (None, ""):
            raise ProviderError("the receipt names no id or status", "bad_receipt")
        return [self._report(fields)]

    # -- replies --
    def fetch_replies(self, cursor):
        """Incoming messages after the id `cursor` (the first fetch: those of the last hour), as
        `get.php?get_answers=1`; always in UTF-8 (`charset=utf-8`, sent by `_post`)."""
        params = {"get_answers": "1", "cnt": str(REPLY_PAGE)}
        after = str(cursor).strip() if cursor not in (None, "") and str(cursor).strip().isdigit() else None
        if cursor not in (None, "") and after is None:
            logger.warning("SMSC: the replies cursor %.40r is not an id: fetching the last hour", cursor)
        params.update({"after_id": after} if after else {"hour": "1"})
        answer = self._post("get.php", params)
        rows = answer if isinstance(answer, list) else [answer] if isinstance(answer, dict) and answer else []
        replies, last = [], int(after) if after else None
        for row in rows:
            if not isinstance(row, dict):
                logger.warning("SMSC: an incoming message that is not an object was skipped: %.300r", row)
                continue
            row_id = str(row.get("id", "")).strip()
            if row_id.isdigit():  # past a row that cannot be read too: it would only come back
                last = max(last or 0, int(row_id))
            reply = self._reply(row)
            if reply is not None:
                replies.append(reply)
        replies.sort(key=lambda reply: int(reply.provider_id) if reply.provider_id.isdigit() else 0)
        return ReplyPage(replies, str(last) if last is not None else None, more=len(rows) >= REPLY_PAGE)

    def read_replies(self, pushed):
        fields = pushed.fields
        if first_of(fields, REPLY_TEXT) is None and fields.get("status") not in (None, ""):
            return []  # a delivery status on the account's one URL: no reply in it
        reply = self._reply(fields)
        if reply is None:
            raise ProviderError("the pushed reply names no id or no phone", "bad_reply")
        return [reply]

    def _reply(self, fields):
        return self.reply(fields, first_of(fields, REPLY_ID), first_of(fields, REPLY_SENDER),
                          first_of(fields, REPLY_RECEIVER), first_of(fields, REPLY_TEXT) or "",
                          moscow_time(first_of(fields, REPLY_TIME)))

    def _report(self, item):
        raw = str(item.get("status", "")).strip()
        status = self.map_status(raw)
        err = str(item.get("err") or "").strip()
        failed = status in (UNDELIVERED, FAILED) and err not in ("", "0")
        return StatusReport(provider_id=str(item["id"]).strip(), status=status, raw=raw,
                            error_code=f"smsc:{err}" if failed else None,
                            error_text=f"SMSC status {raw}, delivery error {err}" if failed else None)


REGIONAL_CURRENCIES = {".kz": "KZT", ".ua": "UAH"}  # SMSC's regional sites; smsc.ru and the rest: RUB


def moscow_time(value):
    """SMSC's "dd.mm.YYYY HH:MM:SS" (Moscow time) or a unix time, as naive UTC; None where it is neither."""
    text = str(value or "").strip()
    if text.isdigit():
        try:
            return datetime.fromtimestamp(int(text), UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None
    for layout in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%y %H:%M:%S"):
        try:
            moment = datetime.strptime(text, layout).replace(tzinfo=MOSCOW)
        except ValueError:
            continue
        return moment.astimezone(UTC).replace(tzinfo=None)
    return None


def _valid_id(key):
    """Whether SMSC takes `key` as a message id: a number 1..2147483647, or up to 40 of [A-Za-z0-9.-_]."""
    if key.isascii() and key.isdigit():
        return 0 < int(key) <= MAX_ID
    return TEXT_ID.fullmatch(key) is not None
