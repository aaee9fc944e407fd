"""The app's one HTTP client, for views to hand down to the flows they call."""
from flask import current_app


def http():
    return current_app.extensions["b24sms.http"]
