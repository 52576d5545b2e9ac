"""System checks: settings that would silently weaken or break the
integration, found at `manage.py check` (and runserver, migrate...) time
rather than by the first person who signs up."""
from django.conf import settings
from django.core import checks

from ..client import Client, DEFAULT_BASE_URL, DEFAULT_TIMEOUT
from ..ip import forwarded_without_setting_seen

# Client.problems() ids -> check ids.
IDS = {"missing_key": "user_cleaning.W002", "admin_key": "user_cleaning.E002",
       "malformed_key": "user_cleaning.E003", "refused_key": "user_cleaning.E004",
       "not_the_api": "user_cleaning.E005", "unreachable": "user_cleaning.W003",
       "service_error": "user_cleaning.W004"}


@checks.register()
def user_cleaning_settings(app_configs=None, **kwargs):
    problems = []
    if getattr(settings, "USER_CLEANING_TRUSTED_PROXIES", None) is None and \
            forwarded_without_setting_seen():
        problems.append(checks.Warning(
            "Requests carry X-Forwarded-For but USER_CLEANING_TRUSTED_PROXIES is not set: "
            "the client IP is taken from a header any client can forge, so bans can be evaded.",
            hint="Set USER_CLEANING_TRUSTED_PROXIES to the number of reverse proxies in front "
                 "of Django (0 if none).", id="user_cleaning.W001"))
    mode = getattr(settings, "USER_CLEANING_FAIL_MODE", "open")
    if mode not in ("open", "closed"):
        problems.append(checks.Error('USER_CLEANING_FAIL_MODE must be "open" or "closed".',
                                     id="user_cleaning.E001"))
        mode = "open"
    return problems + service_problems(mode)


def service_problems(mode):
    """The key as written, then one request to the service that counts
    nothing (skipped with USER_CLEANING_CHECK_SERVICE = False)."""
    client = Client(getattr(settings, "USER_CLEANING_API_KEY", "") or "",
                    getattr(settings, "USER_CLEANING_API_URL", DEFAULT_BASE_URL),
                    float(getattr(settings, "USER_CLEANING_TIMEOUT", DEFAULT_TIMEOUT)), mode)
    out = []
    for p in client.problems(probe=getattr(settings, "USER_CLEANING_CHECK_SERVICE", True)):
        kind = checks.Error if p.level == "error" and p.id != "missing_key" else checks.Warning
        out.append(kind(p.message, hint=p.hint or None, id=IDS[p.id]))
    return out
