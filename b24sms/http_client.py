"""The process's one HTTP client for providers, Bitrix24 and its OAuth server: keep-alive connections reused
across calls (no new TLS handshake per SMS), a User-Agent naming the app and its version, and no cookies (one
client serves every portal and provider account, so nothing may carry over from one call to the next).

`create_app` builds it once per process and every entry point (web views, `jobs`, the spool's replay thread)
hands it down; the Bitrix client and the providers never make one of their own.
"""
import os
from http.cookiejar import DefaultCookiePolicy
from urllib.request import getproxies

import requests
from requests.adapters import HTTPAdapter

from . import __version__
from .bitrix.rate_limit import TokenBucket

# Hosts kept in the pool, and connections kept per host: providers and Bitrix24 portals are many hosts, and the
# job has JOB_CONCURRENCY calls under way at once.
POOL_HOSTS = 64
CONNECTIONS_PER_HOST = 16


class HttpClient(requests.Session):
    """requests' Session, carrying Bitrix24's per-portal rate limit for every REST call the process makes."""

    def __init__(self):
        super().__init__()
        self.portal_rate_limit = TokenBucket()


def build(public_url=""):
    session = HttpClient()
    # requests reads the whole environment (proxies, CA bundle) and ~/.netrc on every request when trust_env is
    # on: about a millisecond a call. Where no proxy or CA bundle is set there is nothing to find, and netrc
    # credentials must never go to a provider anyway; with a proxy set, requests' own handling (no_proxy) stays.
    session.trust_env = bool(getproxies() or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"))
    session.headers["User-Agent"] = f"b24sms/{__version__}" + (f" (+{public_url})" if public_url else "")
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # accept none
    adapter = HTTPAdapter(pool_connections=POOL_HOSTS, pool_maxsize=CONNECTIONS_PER_HOST)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
