#!/usr/bin/env python3
"""The example sign-up site. See README.md."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    try:
        import user_cleaning  # noqa: F401  (installed with pip install ./clients/python)
    except ImportError:  # or straight from this repository
        sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python", "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "signup_site.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
