"""gunicorn entry point: `gunicorn wsgi:app`."""
from b24sms import create_app

app = create_app()
