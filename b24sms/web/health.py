"""`GET /healthz` for load balancers: 200 only when the database answers and the keys decrypt stored data."""
from flask import Blueprint, jsonify

from b24sms.store import canary
from b24sms.web.context import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    problem = canary.verify(services().db)
    if problem is not None:
        return jsonify(status="unavailable", error=problem.error, message=problem.message), 503
    return jsonify(status="ok")
