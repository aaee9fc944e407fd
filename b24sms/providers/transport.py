"""How a call to a provider can fail on the way, before the provider said anything of its own: the codes the base
(b24sms/providers/base.py) gives such failures, and a sentence for each in the admin's words.

A message keeps the failure as its error code (`retry_later:network`, `answer_lost:timeout`, `retry_later:http_503`)
beside an English text for the logs; the page, the CSV and the API's errors show the sentence instead, translated.
"""
from b24sms.rules.errors import N_

NETWORK = "network"  # no connection could be made: the request never left
TIMEOUT = "timeout"  # no answer in time, or the connection dropped: the provider may have the request
TLS = "tls"  # the secure connection could not be set up: the request never left
TOO_LARGE = "answer_too_large"  # the answer was longer than the HTTP client reads
HTTP = "http"  # a 5xx or 429 answer: `http_<status>`

SENTENCES = {  # each takes %(provider)s; HTTP's %(http)s too
    NETWORK: N_("%(provider)s could not be reached: no connection could be made. It is tried again later."),
    TIMEOUT: N_("%(provider)s did not answer in time or dropped the connection. It is tried again later."),
    TLS: N_("The secure connection (TLS) to %(provider)s could not be set up. It is tried again later."),
    TOO_LARGE: N_("%(provider)s answered with far more data than an answer can have."),
    HTTP: N_("%(provider)s answered with server error %(http)s. It is tried again later."),
}


def failure(code):
    """The sentence template and its parameters (besides `provider`) for an error code that names a transport
    failure (`retry_later:network`, `timeout`, `http_503`); None for any other code (a provider's own)."""
    detail = str(code or "").rsplit(":", 1)[-1]
    if detail in SENTENCES and detail != HTTP:
        return SENTENCES[detail], {}
    if detail.startswith(HTTP + "_") and detail[5:].isdigit():
        status = int(detail[5:])
        if status == 429 or status >= 500:
            return SENTENCES[HTTP], {"http": status}
    return None
