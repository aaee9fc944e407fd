"""`GET /metrics` for Prometheus: with METRICS_TOKEN set, only for `Authorization: Bearer <METRICS_TOKEN>`; in
production without METRICS_TOKEN it is off (404, as for any unknown path), and start-up says so once."""
import hmac
import logging

from flask import Blueprint, Response, request
from werkzeug.exceptions import NotFound

from b24sms.rules.errors import N_, Unauthorized
from b24sms.services import EXTENSION
from b24sms.store import metrics
from b24sms.web.context import services

logger = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)


@bp.record_once
def _set_up(state):
    if _off(state.app.extensions[EXTENSION].settings):
        logger.warning("GET /metrics is off: APP_ENV=production and METRICS_TOKEN is not set. Set METRICS_TOKEN "
                       "and scrape with Authorization: Bearer <METRICS_TOKEN> to turn it on.")


@bp.get("/metrics")
def scrape():
    app_services = services()
    if _off(app_services.settings):
        raise NotFound()
    _require_token(app_services.settings.metrics_token)
    body, content_type = metrics.exposition(app_services.db, app_services.message_counts,
                                            accept=request.headers.get("Accept"))
    return Response(body, content_type=content_type)


def _off(settings):
    """Production needs a token: an open /metrics tells anyone the traffic and lets them load the database."""
    return settings.app_env == "production" and not settings.metrics_token


def _require_token(token):
    if not token:
        return  # development and tests: open
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant time, so the token cannot be guessed byte by byte from answer times.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized(N_("/metrics needs Authorization: Bearer <METRICS_TOKEN>."), "invalid_metrics_token")
