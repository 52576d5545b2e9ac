"""The API client: one pooled session, a short timeout, typed results, and the
integration guide's fail-open behaviour (a network problem never blocks a
sign-up) unless configured to fail closed."""
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import requests

from ._settings import setting

DEFAULT_BASE_URL = "https://api.user.cleaning"
DEFAULT_TIMEOUT = 2.0
log = logging.getLogger("user_cleaning")


class InvalidEmail(ValueError):
    """The service says the address is not valid (HTTP 422); .reason says why."""

    def __init__(self, reason: str, detail: Any = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class ConfigurationError(RuntimeError):
    """The API key was refused (HTTP 401) or is missing."""


@dataclass
class CheckResult:
    """What the service said about an address.

    category is "white", "grey" or "black"; "banned" when the client IP is
    banned (HTTP 403, message holds the service's words). failed is True when
    the service could not be asked and the fail mode decided the category."""
    email: str
    category: str
    type: str = "unknown"
    domain: str = ""
    mx_record: str = "unknown"
    premium: str = "unknown"
    domain_age: str = "unknown"
    date_added: str = "not added"
    remaining_attempts_before_ban: Optional[int] = None
    details: Dict[str, Any] = field(default_factory=dict)
    message: Optional[str] = None
    failed: bool = False

    @property
    def banned(self) -> bool:
        return self.category == "banned"

    @property
    def is_white(self) -> bool:
        return self.category == "white"

    @property
    def is_grey(self) -> bool:
        return self.category == "grey"

    @property
    def is_black(self) -> bool:
        return self.category == "black"

    @property
    def did_you_mean(self) -> Optional[str]:
        return self.details.get("did_you_mean")

    @classmethod
    def from_body(cls, body: Dict[str, Any]) -> "CheckResult":
        known = {k: body[k] for k in cls.__dataclass_fields__ if k in body}
        return cls(**known)

    def as_guide_dict(self) -> Dict[str, Any]:
        """The integration guide's return value."""
        if self.banned:
            return {"category": "banned", "message": self.message}
        if self.failed:
            return {"category": self.category}
        return {k: getattr(self, k) for k in ("email", "domain", "category", "type", "mx_record",
                                             "premium", "domain_age", "date_added",
                                             "remaining_attempts_before_ban", "details")}


class Client:
    """Client(api_key, base_url, timeout, fail_mode="open"|"closed")."""

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL,
                 timeout: float = DEFAULT_TIMEOUT, fail_mode: str = "open",
                 session: Optional[requests.Session] = None):
        if fail_mode not in ("open", "closed"):
            raise ValueError('fail_mode is "open" or "closed"')
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.fail_mode = fail_mode
        self.session = session or requests.Session()

    def _failed(self, email: str, why: str) -> CheckResult:
        log.warning("user.cleaning check failed (%s); failing %s", why, self.fail_mode)
        return CheckResult(email=email, category="white" if self.fail_mode == "open" else "black",
                           type="unavailable", failed=True, message=why)

    def check(self, email: str, ip: Optional[str] = None) -> CheckResult:
        """Checks one address for the end user at ip. Raises InvalidEmail on 422
        and ConfigurationError on 401; everything else gives a result."""
        if not self.api_key:
            raise ConfigurationError("USER_CLEANING_API_KEY is not set")
        try:
            r = self.session.post(f"{self.base_url}/v1/email/check",
                                  json={"email": email, "ip": ip or "unknown"},
                                  headers={"Authorization": f"Bearer {self.api_key}"},
                                  timeout=self.timeout)
        except requests.RequestException as e:
            return self._failed(email, f"{type(e).__name__}: {e}")
        if r.status_code == 200:
            try:
                return CheckResult.from_body(r.json())
            except (ValueError, TypeError) as e:
                return self._failed(email, f"unreadable answer: {e}")
        detail = _detail(r)
        if r.status_code == 403:
            return CheckResult(email=email, category="banned", type="banned", message=detail)
        if r.status_code == 422:
            reason = detail
            if isinstance(detail, list) and detail:
                reason = (detail[0].get("ctx") or {}).get("reason") or detail[0].get("msg")
            raise InvalidEmail(str(reason), detail)
        if r.status_code == 401:
            raise ConfigurationError(f"the API key was refused: {detail}")
        return self._failed(email, f"HTTP {r.status_code}: {detail}")


def _detail(r: requests.Response) -> Any:
    try:
        return r.json().get("detail")
    except (ValueError, AttributeError):
        return r.text[:200]


_default = threading.local()


def default_client() -> Client:
    """A client from the settings, one per thread (sessions are not thread-safe)."""
    config = (setting("USER_CLEANING_API_KEY", ""), setting("USER_CLEANING_API_URL", DEFAULT_BASE_URL),
              float(setting("USER_CLEANING_TIMEOUT", DEFAULT_TIMEOUT)),
              setting("USER_CLEANING_FAIL_MODE", "open"))
    client = getattr(_default, "client", None)
    if client is None or getattr(_default, "config", None) != config:
        client = Client(*config)
        _default.client, _default.config = client, config
    return client


def check_email(email: str, client_ip: str) -> Dict[str, Any]:
    """The integration guide's helper: the API's answer as a dict;
    {"category": "banned", "message": ...} on 403; {"category": "white"} when
    the service cannot be asked (fail open)."""
    try:
        return default_client().check(email, client_ip).as_guide_dict()
    except (InvalidEmail, ConfigurationError) as e:
        log.error("user.cleaning: %s", e)
        return {"category": "white"}
