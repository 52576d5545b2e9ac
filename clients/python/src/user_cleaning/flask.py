"""Flask: check a sign-up address with the visitor's IP, as a function or as
a WTForms validator. Settings come from app.config (USER_CLEANING_API_KEY,
USER_CLEANING_API_URL, ...), else the environment.

    from user_cleaning.flask import check_signup_email
    decision = check_signup_email(request.form["email"])
    if not decision.ok:
        flash(decision.message)          # "Did you mean jane@gmail.com?", the ban message, ...

    from user_cleaning.flask import NotDisposable   # WTForms / Flask-WTF
    email = StringField("Email", validators=[DataRequired(), NotDisposable()])
"""
from typing import Optional

from ._settings import setting
from .client import InvalidEmail, default_client
from .ip import get_client_ip
from .policy import Decision, decide, messages_with

__all__ = ["check_signup_email", "NotDisposable"]


def _current_request():
    try:
        from flask import has_request_context, request
    except ImportError:
        return None
    return request if has_request_context() else None


def check_signup_email(email: str, request=None) -> Decision:
    """The decision for email (see user_cleaning.policy.Decision): checked
    with the IP of request (default: Flask's current request, when there is
    one). Never raises for the service's sake: it fails open by default."""
    req = request if request is not None else _current_request()
    ip = get_client_ip(req) if req is not None else None
    try:
        result = default_client().check(email, ip)
    except InvalidEmail as e:
        return Decision(False, None, "invalid", e.reason)
    grey = setting("USER_CLEANING_GREY_POLICY", "allow")
    return decide(result, grey if grey in ("allow", "reject") else "allow",
                  messages_with(setting("USER_CLEANING_MESSAGES", None)))


class NotDisposable:
    """A WTForms validator: the field's address must pass user.cleaning.
    After validation, field.email_check holds the CheckResult (None when the
    address was invalid) so that a view can ask a grey address to confirm.
    message, when given, replaces every refusal's words."""

    def __init__(self, message: Optional[str] = None):
        self.message = message

    def __call__(self, form, field):
        from wtforms.validators import ValidationError
        field.email_check = None
        if not field.data:
            return
        decision = check_signup_email(field.data)
        field.email_check = decision.result
        if not decision.ok:
            raise ValidationError(self.message or decision.message)
