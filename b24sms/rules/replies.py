"""Two-way SMS, the pure part: which replies are stop words, how an operator's answer in an Open Line (BB-code,
the operator's signature first) becomes the plain text of an SMS, and which number it goes from."""
import re
from typing import Any

from b24sms.rules.errors import N_

# What people send to stop SMS (in either case, with or without punctuation around); the admin adds words of
# their own (guard rails' stop_words).
STOP_WORDS = ("stop", "стоп", "отписаться", "отписка")
# The line the connector prefixes when NEED_SIGNATURE is on: "[b]Name:[/b] [br]text" (or a newline).
_SIGNATURE = re.compile(r"^\s*\[b\][^\[\]]{0,120}:\s*\[/b\]\s*(?:\[br\]|\n)", re.IGNORECASE)
_BREAK = re.compile(r"\[br\]", re.IGNORECASE)
# [url=https://x]words[/url] -> "words (https://x)"; [url]https://x[/url] -> the address.
_LINK = re.compile(r"\[url=([^\]]+)\](.*?)\[/url\]", re.IGNORECASE | re.DOTALL)
_BARE_LINK = re.compile(r"\[url\](.*?)\[/url\]", re.IGNORECASE | re.DOTALL)
# Mentions and quotes of Bitrix24's chat: [USER=12]Name[/USER], [CHAT=3]name[/CHAT] keep their words.
_TAG = re.compile(r"\[/?(?:b|i|u|s|color|size|font|user|chat|send|put|code|icon|quote|left|right|center|"
                  r"justify|list|\*|img|br)(?:=[^\]]*)?\]", re.IGNORECASE)
_QUOTE_BLOCK = re.compile(r"-{10,}.*?-{10,}", re.DOTALL)  # a quoted earlier message between dashed lines
# In an operator's answer's origin: the reply number that received the client's last reply, and its account.
REPLY_NUMBER = "reply_number"
# Why a line did not take a reply when Bitrix24's answer gives no words of its own (said in the page's language).
LINE_SAID_NOTHING = N_("Bitrix24's answer did not mention this reply.")
LINE_GAVE_NO_REASON = N_("Bitrix24 did not take this reply and gave no reason.")
OWN_LINE_ERRORS = (LINE_SAID_NOTHING, LINE_GAVE_NO_REASON)


def is_stop_word(text: str, own_words: tuple[str, ...] = ()) -> bool:
    """Whether a reply, as a whole, asks to stop: "STOP", "стоп!", " Отписаться. " (not "stop by tomorrow")."""
    cleaned = " ".join(re.sub(r"[^\w\s]", " ", text or "").split()).casefold()
    return bool(cleaned) and (cleaned in STOP_WORDS or cleaned in own_words)


def plain_text(bb_code: str) -> str:
    """The SMS text of an operator's answer: the signature line dropped, line breaks kept, links spelled out,
    every other BB-code tag removed, runs of blank lines and trailing spaces trimmed."""
    text = _SIGNATURE.sub("", bb_code or "", count=1)
    text = _QUOTE_BLOCK.sub("", text)
    text = _BREAK.sub("\n", text)
    text = _LINK.sub(lambda m: m.group(1) if m.group(2).strip() in ("", m.group(1)) else
                     f"{m.group(2).strip()} ({m.group(1)})", text)
    text = _BARE_LINK.sub(r"\1", text)
    text = _TAG.sub("", text)
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def reply_number_origin(number: str, account_id: int) -> dict[str, Any]:
    """What an operator's answer's origin keeps of the reply number that received the client's last reply."""
    return {REPLY_NUMBER: {"number": number, "account_id": account_id}}


def answer_from(origin: dict[str, Any] | None, account_id: int, needs_from_number: bool) -> str | None:
    """The number an operator's answer goes from when the provider account `account_id` sends it: the reply number
    that received the client's last reply, where the provider needs a from-number and the number is that
    account's (after a failover to another account it is not). None: the account's own sender."""
    kept = (origin or {}).get(REPLY_NUMBER)
    if not needs_from_number or not isinstance(kept, dict) or kept.get("account_id") != account_id:
        return None
    return str(kept.get("number") or "") or None
