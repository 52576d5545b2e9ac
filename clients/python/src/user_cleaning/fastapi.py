"""FastAPI: a dependency that checks sign-up addresses with the visitor's IP.
Settings come from the environment (USER_CLEANING_API_KEY, ...).

    from fastapi import Depends
    from user_cleaning.fastapi import EmailChecker, email_checker

    @app.post("/signup")
    def signup(body: Signup, check_email: EmailChecker = Depends(email_checker)):
        result = check_email(body.email)   # HTTPException when refused; the CheckResult else
        if result.is_grey: ...              # a relay or +tag address: confirm it first

In an `async def` endpoint, `await check_email.check_async(body.email)` keeps
the event loop free while the service answers.

Refusals are HTTPExceptions: 422 in FastAPI's own error form (loc names the
field, msg is the message for people: "Did you mean jane@gmail.com?"), 403
with the service's words for a banned IP, 503 when the service cannot be
asked and USER_CLEANING_FAIL_MODE is "closed".
"""
from typing import Sequence

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from ._settings import setting
from .client import CheckResult, InvalidEmail, default_client
from .ip import get_client_ip
from .policy import Decision, decide, messages_with

__all__ = ["EmailChecker", "email_checker"]


class EmailChecker:
    """Checks addresses for one request (its client IP)."""

    def __init__(self, ip: str):
        self.ip = ip

    def decide(self, email: str) -> Decision:
        try:
            result = default_client().check(email, self.ip)
        except InvalidEmail as e:
            return Decision(False, None, "invalid", e.reason)
        grey = setting("USER_CLEANING_GREY_POLICY", "allow")
        return decide(result, grey if grey in ("allow", "reject") else "allow",
                      messages_with(setting("USER_CLEANING_MESSAGES", None)))

    def __call__(self, email: str, loc: Sequence[str] = ("body", "email")) -> CheckResult:
        d = self.decide(email)
        if d.ok:
            return d.result
        if d.code == "banned":
            raise HTTPException(status_code=403, detail=d.message)
        if d.code == "unavailable":
            raise HTTPException(status_code=503, detail=d.message)
        raise HTTPException(status_code=422, detail=[{
            "type": "value_error", "loc": list(loc), "msg": d.message, "input": email,
            "ctx": {"reason": d.code, "suggestion": d.suggestion}}])

    async def check_async(self, email: str, loc: Sequence[str] = ("body", "email")) -> CheckResult:
        return await run_in_threadpool(self, email, loc)


def email_checker(request: Request) -> EmailChecker:
    """The dependency: an EmailChecker for this request's client IP."""
    return EmailChecker(get_client_ip(request))
