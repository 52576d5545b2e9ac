"""A minimal site with one sign-up form protected by user.cleaning."""
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "user_cleaning.django",
                  "signup_site"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware",
              "django.middleware.csrf.CsrfViewMiddleware"]
ROOT_URLCONF = "signup_site.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [],
              "APP_DIRS": True, "OPTIONS": {"context_processors": ["django.template.context_processors.request"]}}]
# The users that `manage.py user_cleaning_audit_users` checks live here.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("SIGNUP_DB", os.path.join(BASE_DIR, "..", "db.sqlite3"))}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "loggers": {"user_cleaning": {"handlers": ["console"], "level": "INFO"}}}

# user.cleaning: the server from `make run`, and the key it printed.
USER_CLEANING_API_URL = os.environ.get("USER_CLEANING_API_URL", "http://127.0.0.1:8080")
USER_CLEANING_API_KEY = os.environ.get("USER_CLEANING_API_KEY", "")
USER_CLEANING_TIMEOUT = 2.0
USER_CLEANING_FAIL_MODE = "open"
USER_CLEANING_GREY_POLICY = "allow"
if os.environ.get("USER_CLEANING_TRUSTED_PROXIES"):
    USER_CLEANING_TRUSTED_PROXIES = int(os.environ["USER_CLEANING_TRUSTED_PROXIES"])
