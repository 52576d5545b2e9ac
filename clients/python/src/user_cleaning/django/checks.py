"""System checks: settings that would silently weaken the integration."""
from django.conf import settings
from django.core import checks

from ..ip import forwarded_without_setting_seen


@checks.register()
def user_cleaning_settings(app_configs=None, **kwargs):
    problems = []
    if not getattr(settings, "USER_CLEANING_API_KEY", None):
        problems.append(checks.Warning(
            "USER_CLEANING_API_KEY is not set: every check fails open (accepts).",
            hint="Set it to an active key (ucl_live_...).", id="user_cleaning.W002"))
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
    return problems
