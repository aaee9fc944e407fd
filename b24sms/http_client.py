"""The process's one HTTP client for providers, Bitrix24 and its OAuth server: keep-alive connections reused
across calls (no new TLS handshake per SMS), a User-Agent naming the app and its version, and no cookies (one
client serves every portal and provider account, so nothing may carry over from one call to the next).

`create_app` builds it once per process into the services (b24sms/services.py), which every entry point (web
views, `jobs`, the spool's replay thread) hands down; the Bitrix client and the providers never make one of their
own. Bitrix24's rate limit is the Bitrix client's (b24sms/bitrix/rate_limit.py), not this client's.

Every answer is read here, streamed, and refused past MAX_ANSWER_BYTES (AnswerTooLarge): a broken or hostile
server cannot make a call hold more than that in memory, whoever made the call.
"""
import os
from http.cookiejar import DefaultCookiePolicy
from urllib.request import getproxies

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict

from b24sms._version import __version__

# Hosts kept in the pool, and connections kept per host: providers and Bitrix24 portals are many hosts, and the
# job has JOB_CONCURRENCY calls under way at once, many of them to one provider's host (the app passes it).
POOL_HOSTS = 64
CONNECTIONS_PER_HOST = 16
# URLs whose prepared form (parsed, IDNA-encoded, quoted) is remembered: the providers' endpoints and each portal's
# REST methods come again and again.
PREPARED_URLS = 4096
# The most of one answer that is read (decoded, so a compressed bomb stops here too). The largest real answers,
# a batch of 1000 sends (P1SMS) or a Bitrix24 batch of 50 calls, are a few hundred KB; JOB_CONCURRENCY calls may
# be under way at once.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
READ_CHUNK = 64 * 1024


class AnswerTooLarge(requests.RequestException):
    """An answer longer than the client reads: what was read is dropped, the connection closed."""

    def __init__(self, limit, **kwargs):
        super().__init__(f"the answer is longer than {limit} bytes", **kwargs)
        self.limit = limit


class CappedAdapter(HTTPAdapter):
    """Reads every answer (each redirect's too) streamed, with a running total, before handing it on: the answer
    then holds its body as requests would have read it, but never more than `max_answer_bytes` of it."""

    def __init__(self, max_answer_bytes, **kwargs):
        super().__init__(**kwargs)
        self.max_answer_bytes = max_answer_bytes

    def send(self, request, stream=False, **kwargs):  # `stream` or not, the body is read here
        response = super().send(request, stream=True, **kwargs)
        limit = self.max_answer_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            response.close()
            raise AnswerTooLarge(limit, request=request, response=response)
        body = bytearray()
        for chunk in response.iter_content(READ_CHUNK):
            body += chunk
            if len(body) > limit:
                response.close()
                raise AnswerTooLarge(limit, request=request, response=response)
        # What requests itself stores once it has read a body (Response.content reads it from there).
        response._content, response._content_consumed = bytes(body), True
        return response


class Client(requests.Session):
    """requests' Session without the work it would do on every call for things this client never has: no cookie
    is kept (the jar accepts none), no hook, no session-wide auth, params or proxies, the environment read once
    (`build`). Such a call is prepared directly: its URL prepared once and remembered, its headers checked as
    requests checks them, its body encoded by requests; then sent by requests (redirects, the adapter's timeout
    and answer cap). Anything else (a call with cookies, files, auth, a user in its URL, a proxy) takes requests'
    own way. A call that follows no redirect (Bitrix24's) goes straight to the adapter."""

    def __init__(self):
        super().__init__()
        self._prepared_urls = {}

    def request(self, method, url, params=None, data=None, headers=None, cookies=None, files=None, auth=None,
                timeout=None, allow_redirects=True, proxies=None, hooks=None, stream=None, verify=None, cert=None,
                json=None):
        if isinstance(url, bytes):
            url = url.decode("utf-8")
        if (cookies or files or auth or proxies or hooks or self.trust_env or self.auth or self.params
                or self.proxies or any(self.hooks.values()) or len(self.cookies) or "@" in url):
            return super().request(method, url, params=params, data=data, headers=headers, cookies=cookies,
                                   files=files, auth=auth, timeout=timeout, allow_redirects=allow_redirects,
                                   proxies=proxies, hooks=hooks, stream=stream, verify=verify, cert=cert, json=json)
        prepared = requests.PreparedRequest()
        prepared.method = method.upper()
        prepared.url = self._prepared_url(url, params)
        merged = CaseInsensitiveDict(self.headers)
        for name, value in (headers or {}).items():
            if value is None:  # as requests merges: None takes a default header away
                merged.pop(name, None)
            else:
                merged[name] = value
        prepared.prepare_headers(merged)
        prepared._cookies = RequestsCookieJar()  # what a redirect's Set-Cookie goes into, for that call only
        prepared.prepare_body(data or {}, None, json)
        prepared.hooks = default_hooks()
        settings = {"timeout": timeout, "proxies": {}, "stream": self.stream if stream is None else stream,
                    "verify": self.verify if verify is None else verify, "cert": self.cert if cert is None else cert}
        if allow_redirects:
            return self.send(prepared, allow_redirects=True, **settings)
        # What requests' own send adds to the adapter's is following redirects, hooks and keeping cookies: none of
        # them applies here (a redirect comes back to the caller, as requests would hand it back).
        return self.get_adapter(prepared.url).send(prepared, **settings)

    def _prepared_url(self, url, params):
        if params:
            prepared = requests.PreparedRequest()
            prepared.prepare_url(url, params)
            return prepared.url
        known = self._prepared_urls.get(url)  # one lookup: another thread may empty the dict meanwhile
        if known is None:
            prepared = requests.PreparedRequest()
            prepared.prepare_url(url, None)
            if len(self._prepared_urls) >= PREPARED_URLS:
                self._prepared_urls.clear()
            known = self._prepared_urls[url] = prepared.url
        return known


def build(public_url="", max_answer_bytes=MAX_ANSWER_BYTES,
          connections_per_host=CONNECTIONS_PER_HOST) -> requests.Session:
    session = Client()
    # requests reads the whole environment (proxies, CA bundle) and ~/.netrc on every request when trust_env is
    # on: about a millisecond a call. Netrc credentials must never go to a provider anyway, and a CA bundle named
    # in the environment is read here once; with a proxy set, requests' own handling (no_proxy) stays.
    session.trust_env = bool(getproxies())
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.headers["User-Agent"] = f"b24sms/{__version__}" + (f" (+{public_url})" if public_url else "")
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # accept none
    adapter = CappedAdapter(max_answer_bytes, pool_connections=POOL_HOSTS,
                            pool_maxsize=max(connections_per_host, CONNECTIONS_PER_HOST))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
