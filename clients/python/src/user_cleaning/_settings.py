"""Where the helpers read their configuration: the Flask app's config inside a
Flask app context, else Django settings when Django is configured, else the
environment (USER_CLEANING_API_KEY, USER_CLEANING_API_URL, ...)."""
import os


def setting(name, default=None):
    try:
        from flask import current_app, has_app_context
        if has_app_context() and name in current_app.config:
            return current_app.config[name]
    except ImportError:
        pass
    try:
        from django.conf import settings
        if settings.configured and hasattr(settings, name):
            return getattr(settings, name)
    except ImportError:
        pass
    return os.environ.get(name, default)
