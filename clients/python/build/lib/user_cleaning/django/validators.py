"""A validator for model and form fields (no request, so no IP accounting)."""
from .forms import check_or_raise


def validate_email_not_disposable(value):
    """Raises ValidationError when user.cleaning answers black (or banned)."""
    check_or_raise(value, None)
