"""Receipt URLs `/callbacks/<kind>/<secret>` and reply URLs `/inbound/<kind>/<secret>`: one random secret per
provider account (see url_secrets), which both carry."""
from b24sms.store import url_secrets
from b24sms.store.models import ProviderAccount


def assign_secret(account):
    """Give the account a secret unless it has one: a URL pasted into a provider's cabinet must stay valid."""
    url_secrets.assign(account, "callback_secret", "callback_secret_hash")


def url_for(public_url, account):
    """The account's receipt URL under PUBLIC_URL, or None while it has no secret."""
    if not account.callback_secret:
        return None
    return f"{public_url}/callbacks/{account.kind}/{account.callback_secret}"


def account_for(session, kind, secret):
    """The account a receipt URL belongs to, or None."""
    account = url_secrets.find(session, ProviderAccount, "callback_secret", "callback_secret_hash", secret)
    return account if account is not None and account.kind == kind else None


def inbound_url_for(public_url, account):
    """The account's inbound URL (replies pushed by the provider) under PUBLIC_URL, or None while it has no
    secret: the same secret as its receipts."""
    if not account.callback_secret:
        return None
    return f"{public_url}/inbound/{account.kind}/{account.callback_secret}"
