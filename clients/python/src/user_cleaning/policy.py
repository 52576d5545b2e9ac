"""What a sign-up form does with an answer, in one place for every framework
(Django, Flask/WTForms, FastAPI): block black, block banned IPs with the
server's words, ask again on a typo, accept or reject grey by setting, and
accept when the service cannot be asked (fail open) unless told otherwise."""
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from .client import CheckResult

MESSAGES = {
    "black": "This email address cannot be used to sign up. Please use your own address.",
    "typo": "Did you mean %(suggestion)s?",
    "grey": "Please use a personal email address rather than a forwarding alias.",
    "unavailable": "We could not verify this email address right now. Please try again.",
}


@dataclass
class Decision:
    """ok: let the sign-up go on. Otherwise code ("blocked", "typo", "banned",
    "grey", "unavailable", "invalid") and message say why, for the form.
    result is the service's answer (None when the address was refused as
    invalid before a result existed)."""
    ok: bool
    result: Optional[CheckResult]
    code: Optional[str] = None
    message: Optional[str] = None

    @property
    def suggestion(self) -> Optional[str]:
        """The address with the suggested domain ("jane@gmail.com"), or None."""
        return suggestion(self.result) if self.result else None


def suggestion(result: CheckResult) -> Optional[str]:
    """result.email with its domain replaced by details.did_you_mean, or None."""
    domain = result.did_you_mean
    if not domain or "@" not in (result.email or ""):
        return None
    return result.email.rsplit("@", 1)[0].strip() + "@" + domain


def decide(result: CheckResult, grey_policy: str = "allow",
           message: Callable[..., str] = None) -> Decision:
    """The decision for result. message(kind, **extra) words it (default:
    MESSAGES); grey_policy is "allow" or "reject"."""
    word = message or (lambda kind, **extra: MESSAGES[kind] % extra if extra else MESSAGES[kind])
    if result.failed:
        if result.category == "black":  # fail closed
            return Decision(False, result, "unavailable", word("unavailable"))
        return Decision(True, result)
    if result.banned:
        return Decision(False, result, "banned", result.message or word("black"))
    if result.is_black:
        s = suggestion(result)
        if s:
            return Decision(False, result, "typo", word("typo", suggestion=s))
        return Decision(False, result, "blocked", word("black"))
    if result.is_grey and grey_policy == "reject":
        return Decision(False, result, "grey", word("grey"))
    return Decision(True, result)


def messages_with(overrides: Optional[Dict[str, str]]) -> Callable[..., str]:
    """A message(kind, **extra) over MESSAGES with the caller's overrides."""
    table = dict(MESSAGES, **(overrides or {}))

    def message(kind, **extra):
        text = table[kind]
        return str(text) % extra if extra else str(text)
    return message
