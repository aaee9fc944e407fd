"""The one place that sends HTTP to Bitrix24 or its OAuth server and reads the JSON answer."""
import requests

from b24sms.bitrix.errors import BitrixUnavailable, classify
from b24sms.http_client import AnswerTooLarge


class Redirected(Exception):
    def __init__(self, location):
        super().__init__(location)
        self.location = location


def request_json(http, method, url, *, timeout, **kwargs):
    """The decoded JSON answer; Bitrix error answers raise the matching BitrixError. `http`: the process's one
    HTTP client (b24sms.http_client)."""
    try:
        response = http.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.Timeout:
        raise BitrixUnavailable("timeout", f"no answer within {timeout} s") from None
    except AnswerTooLarge as exc:
        raise BitrixUnavailable("answer_too_large", str(exc)) from None
    except requests.RequestException as exc:
        raise BitrixUnavailable("network", type(exc).__name__) from None
    if response.status_code in (301, 302, 307, 308):
        # A portal that moved to a new domain answers with a redirect; the caller decides whether to follow.
        raise Redirected(response.headers.get("Location", ""))
    try:
        answer = response.json()
    except ValueError:
        answer = None
    # Some errors come with an empty code and only words ("Handler already binded"): still a Bitrix error.
    if isinstance(answer, dict) and (answer.get("error") or answer.get("error_description")):
        raise classify(answer.get("error") or "", str(answer.get("error_description", "")), response.status_code)
    if response.status_code >= 400 or not isinstance(answer, dict):
        raise BitrixUnavailable(f"http_{response.status_code}", "the answer is not a JSON object",
                                response.status_code)
    return answer
