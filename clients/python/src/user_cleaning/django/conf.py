"""The integration's settings, with their defaults.

USER_CLEANING_API_KEY       the active key (required)
USER_CLEANING_API_URL       base URL (default https://api.user.cleaning)
USER_CLEANING_TIMEOUT       seconds (default 2.0)
USER_CLEANING_FAIL_MODE     "open" (default: accept when the service is unreachable) or "closed"
USER_CLEANING_GREY_POLICY   "allow" (default: accept, with form.email_check set) or "reject"
USER_CLEANING_MESSAGES      overrides of MESSAGES below
USER_CLEANING_TRUSTED_PROXIES  reverse proxies in front of Django (see get_client_ip)
USER_CLEANING_CHECK_SERVICE    False: `manage.py check` does not ask the service (default True)
"""
from django.conf import settings
from django.utils.translation import gettext_lazy as _

MESSAGES = {
    "black": _("This email address cannot be used to sign up. Please use your own address."),
    "typo": _("Did you mean %(suggestion)s?"),
    "grey": _("Please use a personal email address rather than a forwarding alias."),
    "unavailable": _("We could not verify this email address right now. Please try again."),
}


def get(name, default=None):
    return getattr(settings, name, default)


def message(kind, **extra):
    custom = get("USER_CLEANING_MESSAGES", None) or {}
    text = custom.get(kind, MESSAGES[kind])
    return str(text) % extra if extra else text


def grey_policy():
    value = get("USER_CLEANING_GREY_POLICY", "allow")
    return value if value in ("allow", "reject") else "allow"
