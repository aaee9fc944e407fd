"""The local demo (b24sms/demo/) in tests: its calls to itself served by the app, its page opened, its portal given
the `log` provider. The demo's calls to itself (REST to the stand-in, the stand-in's handler calls and posted
events, the job's reports) go over HTTP to PUBLIC_URL, as on the development server; here `responses` hands them to
the same app (`serve_from`; tests/conftest.py's `loopback` fixture)."""
import re
from urllib.parse import urlsplit

import responses
from flask.testing import FlaskClient

from tests.helpers import save_providers
from tests.helpers.suite import PUBLIC_URL

STAND_IN = PUBLIC_URL + "/demo/bitrix"
FORWARDED_HEADERS = ("Content-Type", "Authorization", "Accept-Language")


def serve_from(rsps, app):
    """Outgoing calls to PUBLIC_URL are answered by `app` itself, as the threaded development server does."""
    inner = FlaskClient(app, app.response_class, use_cookies=False)  # not the settling client: no waiting here

    def serve(request):
        url = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        with app.app_context():  # a context of its own, as another request of the server would have
            answer = inner.open(url.path, method=request.method, query_string=url.query, data=body, headers=headers)
        return answer.status_code, {"Content-Type": answer.content_type}, answer.get_data()

    for method in (responses.GET, responses.POST):
        rsps.add_callback(method, re.compile(re.escape(PUBLIC_URL) + r"/.*"), callback=serve)


def page_token(response):
    match = re.search(r'<meta name="b24sms-token" content="([^"]+)"', response.get_data(as_text=True))
    return match.group(1) if match else None


def open_demo(client, query="lang=en", **kwargs):
    response = client.get(f"/demo?{query}", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response, page_token(response)


def demo_with_log_provider(client):
    """The demo page, then the `log` provider saved through the page's API (which registers the sender)."""
    _, token = open_demo(client)
    saved = save_providers(client, token, [{"kind": "log"}])
    assert saved.status_code == 200, saved.get_json()
    return token
