"""user.cleaning: block disposable and temporary email addresses at sign-up.

    from user_cleaning import Client
    result = Client(api_key, base_url="http://127.0.0.1:8080").check(email, ip)
    if result.banned or result.category == "black": ...

Copy-paste users of the integration guide keep their two helpers:

    from user_cleaning import check_email, get_client_ip

Framework helpers: user_cleaning.django (a form mixin, a validator, system
checks), user_cleaning.flask (a function and a WTForms validator),
user_cleaning.fastapi (a dependency). All decide the same way
(user_cleaning.policy).
"""
from .client import (  # noqa: F401
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    BatchError,
    BatchTask,
    CheckResult,
    Client,
    ConfigurationError,
    InvalidEmail,
    Problem,
    check_email,
    key_problem,
)
from .policy import Decision, decide  # noqa: F401
from .ip import get_client_ip, normalize_ip  # noqa: F401

__version__ = "0.1.0"
__all__ = ["Client", "CheckResult", "BatchTask", "BatchError", "InvalidEmail", "ConfigurationError",
           "Problem", "Decision", "check_email", "decide", "key_problem", "get_client_ip",
           "normalize_ip", "DEFAULT_BASE_URL", "DEFAULT_TIMEOUT"]
