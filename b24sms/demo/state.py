"""What the stand-in Bitrix24 was told and did: its senders and event bindings, the SMS its "CRM" handed to a
HANDLER, the statuses reported for them, its notifications, our Open Lines connector and the clients' SMS each
of its lines took (demo/open_lines.py).

Kept in memory, one per app (the development server is one process; `flask run` serves it from threads, hence
the lock). A restart forgets it: the demo page registers the portal's senders again when they are gone (as the
product does after an app update deletes them), and tokens outlive restarts anyway (tokens.py).
"""
import threading
import time
from collections import OrderedDict

KEEP_MESSAGES = 200
KEEP_NOTIFICATIONS = 100


class StandInState:
    def __init__(self):
        self.lock = threading.Lock()
        self.senders = {}  # CODE (lower-case) -> the sender's params as registered
        self.events = {}  # EVENT (upper-case) -> handler URL
        self.messages = OrderedDict()  # MESSAGE_ID -> what was sent to the handler, with the statuses told
        self.notifications = []
        self.connectors = {}  # our Open Lines connector: ID -> what it was registered with
        # line id ("1") -> {"line", "active", "connector", "data", "messages" (the clients'), "delivered",
        # "answers" (the operators', with when they were confirmed delivered)}
        self.lines = {}
        self.chats = {}  # (line, our chat id) -> the line's chat number
        self.im_message_id = 0  # the last chat message id given to an operator's answer
        self.used_refresh_tokens = set()  # nonces: refresh tokens rotate
        self.app_id = 1

    # ---------------------------------------------------------------- the "CRM" side
    def record_send(self, message_id, *, code, to, text, user_id, handler_status, answer):
        with self.lock:
            self.messages[message_id] = {
                "message_id": message_id, "code": code, "to": to, "text": text, "user_id": user_id,
                "at": time.time(), "handler_status": handler_status, "answer": answer, "statuses": [],
            }
            while len(self.messages) > KEEP_MESSAGES:
                self.messages.popitem(last=False)

    def record_status(self, message_id, code, status):
        """Take a status report; False when the message went through another sender (Bitrix24 finds a message
        under the CODE of its own sender only, without regard to case). One for a message the stand-in forgot (a
        restart) is kept too."""
        with self.lock:
            entry = self.messages.get(message_id)
            if entry is not None and str(entry["code"]).lower() != code.lower():
                return False
            if entry is None:
                entry = self.messages[message_id] = {"message_id": message_id, "code": code, "to": None,
                                                     "text": None, "user_id": None, "at": None,
                                                     "handler_status": None, "answer": None, "statuses": []}
            # Bitrix24 takes the status a message already has as a no-op.
            if not entry["statuses"] or entry["statuses"][-1]["status"] != status:
                entry["statuses"].append({"status": status, "at": time.time()})
            return True

    def record_notification(self, user_id, message, tag):
        with self.lock:
            self.notifications.append({"id": len(self.notifications) + 1, "user_id": user_id, "message": message,
                                       "tag": tag, "at": time.time()})
            del self.notifications[:-KEEP_NOTIFICATIONS]
            return self.notifications[-1]["id"]

    def chat_of(self, line, chat_id):
        """The line's chat for one client (the caller holds the lock): one chat per client and line."""
        return self.chats.setdefault((line, chat_id), 9800 + len(self.chats))

    # ---------------------------------------------------------------- what the panel shows
    def snapshot(self, language="en", limit=20):
        with self.lock:
            # No HANDLER: it carries the portal's handler key, and this goes to the page.
            senders = [{"code": params["CODE"], "name": _in_language(params.get("NAME"), language) or params["CODE"]}
                       for params in self.senders.values()]
            messages = [dict(entry, statuses=list(entry["statuses"])) for entry in reversed(self.messages.values())]
            return {
                "senders": sorted(senders, key=lambda sender: sender["code"]),
                "events": dict(self.events),
                "messages": messages[:limit],
                "notifications": list(reversed(self.notifications))[:limit],
                "lines": [{"line": line["line"], "active": line.get("active", False),
                           "name": line["data"].get("NAME"), "messages": list(reversed(line["messages"]))[:limit],
                           "delivered": len(line["delivered"]),
                           "chats": sorted(chat for line_id, chat in self.chats if line_id == line["line"]),
                           "chat": _chat(line, limit)} for line in self.lines.values()],
            }


def _chat(line, limit):
    """The line's chat as an operator sees it, oldest first: the clients' messages and the operators' answers."""
    said = [{"by": "client", "client": message.get("chat") or message["from"], "text": message["text"],
             "at": message["at"]} for message in line["messages"]]
    said += [{"by": "operator", "client": answer["chat"], "text": answer["text"], "at": answer["at"],
              "delivered_at": answer["delivered_at"]} for answer in line.get("answers", [])]
    return sorted(said, key=lambda entry: entry["at"])[-limit:]


def _in_language(value, language):
    """A NAME given as text or as {"ru": ..., "en": ...}, in the page's language where it has one."""
    if isinstance(value, dict):
        return value.get(language) or value.get("en") or next(iter(value.values()), "")
    return value


def state_of(app):
    return app.extensions.setdefault("b24sms.demo_bitrix", StandInState())
