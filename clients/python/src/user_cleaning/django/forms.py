"""The integration guide's pattern as a mixin: pass request= to the form and
the email is checked in clean_email, with the client's IP."""
import logging

from django import forms
from django.core.exceptions import ValidationError

from ..client import InvalidEmail, default_client
from ..ip import get_client_ip
from ..policy import decide
from . import conf

log = logging.getLogger("user_cleaning")


def check_or_raise(email, ip):
    """Checks email; raises ValidationError for what the settings reject (code
    "blocked", "typo" with "Did you mean jane@gmail.com?", "banned", "grey",
    "unavailable", "invalid") and returns the CheckResult otherwise."""
    try:
        result = default_client().check(email, ip)
    except InvalidEmail as e:
        raise ValidationError(e.reason, code="invalid")
    d = decide(result, conf.grey_policy(), conf.message)
    if not d.ok:
        raise ValidationError(d.message, code=d.code)
    return result


class EmailCheckMixin:
    """Checks the form's "email" field against user.cleaning in clean_email,
    as the integration guide does, with the IP of request= .

    After is_valid(), form.email_check holds the CheckResult (None when the
    check could not run); a view asks for more verification when it is grey."""

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        self.email_check = None
        super().__init__(*args, **kwargs)

    def clean_email(self):
        parent = getattr(super(), "clean_email", None)
        email = parent() if parent else self.cleaned_data.get("email")
        if email:
            ip = get_client_ip(self.request) if self.request is not None else None
            self.email_check = check_or_raise(email, ip)
        return email


class EmailCheckForm(EmailCheckMixin, forms.Form):
    email = forms.EmailField()
