"""A local demo (development only): a stand-in for Bitrix24 that the app serves itself, and one demo portal.

The stand-in answers as Bitrix24's OAuth server (`/demo/bitrix/oauth/...`) and as one portal's REST API
(`/demo/bitrix/rest/<method>`); its "portal" can open the app the way Bitrix24 does (`/demo/bitrix/portal`) and
send an SMS the way a CRM card does (a handler call to the sender's HANDLER). The demo portal is a real Portal
row whose `client_endpoint` is the stand-in's REST base, so every flow of the product runs unchanged and nothing
leaves the machine. None of it is registered with APP_ENV=production (create_app, b24sms/__init__.py).

Modules: tokens.py (the stand-in's signed tokens), state.py (what it was told), rest.py (its REST methods),
stand_in.py (its HTTP surface), opening.py (its "portal opens the app" page), demo_portal.py (our Portal row),
crm.py (a simulated CRM send), page.py (GET /demo: the demo portal's settings page with its panel, and
`init_app`, which registers all of these).
"""

# The demo portal as the stand-in describes it (app.info, handler calls); `member_id` is unique among portals.
DEMO_MEMBER_ID = "demo"
DEMO_DOMAIN = "demo.bitrix24.local"
# The OAuth pair of the app as the stand-in knows it. The app verifies visits with the stand-in only when its
# settings name it (B24_OAUTH_URL and B24_CLIENT_ID in `.env`, README "Trying it locally"): never by default.
DEMO_CLIENT_ID = "local.b24smsdemo00000.00000000"
DEMO_CLIENT_SECRET = "b24sms-demo-client-secret"
STAND_IN_PATH = "/demo/bitrix"
ADMIN_USER = "1"
NON_ADMIN_USER = "2"


def rest_base(settings):
    """The demo portal's REST base: what app.info names as its `client_endpoint`."""
    return f"{settings.public_url}{STAND_IN_PATH}/rest/"


def oauth_base(settings):
    """What B24_OAUTH_URL must be for the stand-in to verify iframe visits (the real install flow)."""
    return f"{settings.public_url}{STAND_IN_PATH}/oauth"


def verifies_visits(settings):
    """Whether the app asks the stand-in to verify visits: only then may its portal open /install or /."""
    return settings.b24_oauth_url == oauth_base(settings) and settings.b24_client_id == DEMO_CLIENT_ID
