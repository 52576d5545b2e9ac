"""manage.py user_cleaning_check EMAIL [--ip IP]: is the integration configured?"""
import json

from django.core.management.base import BaseCommand, CommandError

from user_cleaning.client import InvalidEmail, default_client
from user_cleaning.policy import suggestion


class Command(BaseCommand):
    help = "Checks one address with the configured user.cleaning service and prints the answer."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--ip", default=None, help="the end user's IP (default: none)")

    def handle(self, *args, **opts):
        client = default_client()
        self.stdout.write(f"service: {client.base_url}  timeout: {client.timeout}s  "
                          f"fail mode: {client.fail_mode}")
        problems = client.problems()
        for p in problems:
            self.stderr.write(f"{p.level}: {p.message}" + (f" ({p.hint})" if p.hint else ""))
        if any(p.level == "error" for p in problems):
            raise CommandError("the integration is misconfigured: "
                               + "; ".join(p.message for p in problems if p.level == "error"))
        try:
            result = client.check(opts["email"], opts["ip"])
        except InvalidEmail as e:
            raise CommandError(f"not a valid address: {e.reason}")
        if result.failed:
            raise CommandError(f"the service could not be asked: {result.message}")
        if result.banned:
            self.stdout.write(f"banned: {result.message}")
            return
        self.stdout.write(f"{result.category} / {result.type}")
        if suggestion(result):
            self.stdout.write(f"did you mean {suggestion(result)}?")
        self.stdout.write(json.dumps(result.as_guide_dict(), indent=2, ensure_ascii=False))
