"""`GET /metrics` for Prometheus; with METRICS_TOKEN set, only for `Authorization: Bearer <METRICS_TOKEN>`."""
import hmac

from flask import Blueprint, Response, current_app, request

from .. import metrics
from ..db import get_db
from ..errors import N_, Unauthorized

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape():
    _require_token(current_app.config.get("METRICS_TOKEN") or "")
    body, content_type = metrics.exposition(get_db(), accept=request.headers.get("Accept"))
    return Response(body, content_type=content_type)


def _require_token(token):
    if not token:
        return  # open: the deployment keeps /metrics off the public network some other way
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant time, so the token cannot be guessed byte by byte from answer times.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized(N_("/metrics needs Authorization: Bearer <METRICS_TOKEN>."), "invalid_metrics_token")
