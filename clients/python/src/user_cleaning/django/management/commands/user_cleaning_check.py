"""manage.py user_cleaning_check EMAIL [--ip IP]: is the integration configured?"""
import json

from django.core.management.base import BaseCommand, CommandError

from user_cleaning.client import ConfigurationError, InvalidEmail, default_client


class Command(BaseCommand):
    help = "Checks one address with the configured user.cleaning service and prints the answer."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--ip", default=None, help="the end user's IP (default: none)")

    def handle(self, *args, **opts):
        client = default_client()
        self.stdout.write(f"service: {client.base_url}  timeout: {client.timeout}s  "
                          f"fail mode: {client.fail_mode}")
        try:
            result = client.check(opts["email"], opts["ip"])
        except ConfigurationError as e:
            raise CommandError(str(e))
        except InvalidEmail as e:
            raise CommandError(f"not a valid address: {e.reason}")
        if result.failed:
            raise CommandError(f"the service could not be reached: {result.message}")
        if result.banned:
            self.stdout.write(f"banned: {result.message}")
            return
        self.stdout.write(f"{result.category} / {result.type}")
        self.stdout.write(json.dumps(result.as_guide_dict(), indent=2, ensure_ascii=False))
