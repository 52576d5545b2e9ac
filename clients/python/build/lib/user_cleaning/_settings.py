"""Where the helpers read their configuration: Django settings when Django is
configured, else the environment (USER_CLEANING_API_KEY, USER_CLEANING_API_URL...)."""
import os


def setting(name, default=None):
    try:
        from django.conf import settings
        if settings.configured and hasattr(settings, name):
            return getattr(settings, name)
    except ImportError:
        pass
    return os.environ.get(name, default)
