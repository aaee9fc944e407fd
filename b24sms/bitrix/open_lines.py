"""Our Open Lines connector on one portal: connecting a line (imconnector.activate, imconnector.connector.data.set)
and asking how it stands (imconnector.status). Every call needs the app's OAuth token (a webhook gets
WRONG_AUTH_TYPE); answers come as `{"result": {"result": true}}` or `{"result": true}`, and errors may come inside
a 200 (`result.result = false` with `error`, `error_description`).

(A minimal module with the agreed signatures; the connector's registration and messages live beside it.)"""
import re
from dataclasses import dataclass

from b24sms.bitrix.errors import BitrixError

CONNECTOR_PREFIX = "b24sms_"


@dataclass(frozen=True)
class LineStatus:
    configured: bool
    active: bool
    error: str | None


def connector_id(settings) -> str:
    """The connector's ID: digits, lower-case letters and `_` only (a `.` is refused), prefixed with ours."""
    own = re.sub(r"[^a-z0-9_]", "_", settings.sender_code.lower())
    return own if own.startswith(CONNECTOR_PREFIX.rstrip("_")) else CONNECTOR_PREFIX + own


def activate(client, settings, line, active: bool):
    _checked(client.call("imconnector.activate", {"CONNECTOR": connector_id(settings), "LINE": int(line),
                                                  "ACTIVE": "1" if active else "0"}))


def set_connector_data(client, settings, line, data):
    """`data`: {ID, URL, URL_IM, NAME}; Bitrix24 overwrites the whole object."""
    _checked(client.call("imconnector.connector.data.set", {"CONNECTOR": connector_id(settings), "LINE": int(line),
                                                            "DATA": dict(data)}))


def line_status(client, settings, line) -> LineStatus:
    answer = client.call("imconnector.status", {"CONNECTOR": connector_id(settings), "LINE": int(line)})
    if isinstance(answer, dict) and isinstance(answer.get("result"), dict):
        answer = answer["result"]
    answer = answer if isinstance(answer, dict) else {}
    error = answer.get("ERROR")
    return LineStatus(configured=_yes(answer.get("CONFIGURED")), active=_yes(answer.get("STATUS")),
                      error=str(error) if error not in (None, False, "", "N") else None)


def _yes(value) -> bool:
    return value is True or str(value).upper() in ("Y", "1", "TRUE")


def _checked(result):
    """Raise the error a 200 answer carries inside (`result.result = false`)."""
    inner = result.get("result", result) if isinstance(result, dict) else result
    if isinstance(result, dict) and (inner is False or result.get("error")):
        raise BitrixError(str(result.get("error") or "ERROR"), str(result.get("error_description") or ""))
    if result is False:
        raise BitrixError("ERROR", "Bitrix24 answered false")
    return result
