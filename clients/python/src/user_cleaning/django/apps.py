from django.apps import AppConfig


class UserCleaningConfig(AppConfig):
    name = "user_cleaning.django"
    label = "user_cleaning"
    verbose_name = "user.cleaning email checks"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
