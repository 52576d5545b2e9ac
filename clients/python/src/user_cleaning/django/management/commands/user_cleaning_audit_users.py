"""manage.py user_cleaning_audit_users: sends the addresses of the user model
through the batch API, prints how many users fall in each category and type,
and can export the verdicts (--export FILE) or deactivate the users of one
category (--deactivate black: a dry run unless --apply)."""
import csv
import io
import tempfile
from collections import Counter
from datetime import date

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from user_cleaning.client import BatchError, ConfigurationError, default_client

FIELDS = ["id", "email", "category", "domain_type", "mx_record", "did_you_mean"]


class Command(BaseCommand):
    help = ("Checks every user's email address with the batch API and reports them per category; "
            "optionally exports the results or deactivates users of one category.")

    def add_arguments(self, parser):
        parser.add_argument("--project", default=None,
                            help="project name of the batch task (default: django-users-DATE)")
        parser.add_argument("--export", metavar="FILE",
                            help="write id,email,category,domain_type,mx_record,did_you_mean per user")
        parser.add_argument("--deactivate", choices=["black", "grey"],
                            help="deactivate the active users of this category (a dry run without --apply)")
        parser.add_argument("--apply", action="store_true", help="really deactivate them")
        parser.add_argument("--timeout", type=float, default=3600.0,
                            help="seconds to wait for the task (default 3600)")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between status checks")
        parser.add_argument("--keep-task", action="store_true",
                            help="keep the task and its files on the service afterwards")

    def handle(self, *args, **opts):
        users = get_user_model()
        field = users.get_email_field_name()
        rows = list(users.objects.order_by("pk").values_list("pk", field))
        if not rows:
            self.stdout.write("No users to check.")
            return
        client = default_client()
        project = opts["project"] or f"django-users-{date.today().isoformat()}"
        results = self._run(client, project, rows, opts)
        self._report(results)
        if opts["export"]:
            self._export(opts["export"], results)
        if opts["deactivate"]:
            self._deactivate(users, opts["deactivate"], results, opts["apply"])

    def _run(self, client, project, rows, opts):
        """Uploads id,email (no dedupe: one result per user), waits, downloads."""
        with tempfile.TemporaryFile() as f:
            text = io.TextIOWrapper(f, encoding="utf-8", newline="")
            out = csv.writer(text)
            out.writerow(["id", "email"])
            out.writerows((pk, email or "") for pk, email in rows)
            text.flush()
            f.seek(0)
            try:
                task = client.batch_check(f, project, deduplicate=False, filename="users.csv")
                self.stdout.write(f"task {task.task_id}: {len(rows)} users sent to {client.base_url}")
                task = client.batch_wait(task.task_id, timeout=opts["timeout"], poll=opts["poll"])
                if task.status != "completed":
                    raise CommandError(f"the task failed: {task.failure_reason}")
                data = client.batch_download(task.task_id)
                if not opts["keep_task"]:
                    client.batch_delete(task.task_id)
            except ConfigurationError as e:
                raise CommandError(str(e))
            except (BatchError, TimeoutError) as e:
                raise CommandError(f"the batch API failed: {e}")
            finally:
                text.detach()
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        return [{k: row.get(k, "") for k in FIELDS} for row in reader]

    def _report(self, results):
        categories = Counter(r["category"] or "no address" for r in results)
        types = Counter(r["domain_type"] for r in results)
        self.stdout.write(f"\n{len(results)} users\n")
        self.stdout.write(f"  {'category':<24}{'users':>8}")
        for cat in ("white", "grey", "black", "no address"):
            if categories.get(cat):
                self.stdout.write(f"  {cat:<24}{categories[cat]:>8}")
        self.stdout.write(f"\n  {'type':<24}{'users':>8}")
        for t, n in types.most_common():
            self.stdout.write(f"  {t:<24}{n:>8}")
        typos = [r for r in results if r["did_you_mean"]]
        if typos:
            self.stdout.write(f"\n  {len(typos)} address(es) look like typos, e.g. "
                              f"{typos[0]['email']} -> {typos[0]['did_you_mean']}")

    def _export(self, path, results):
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.DictWriter(f, FIELDS)
            out.writeheader()
            out.writerows(results)
        self.stdout.write(f"\nresults written to {path}")

    def _deactivate(self, users, category, results, apply):
        if not any(f.name == "is_active" for f in users._meta.get_fields()):
            raise CommandError(f"{users.__name__} has no is_active field to deactivate users with")
        ids = [r["id"] for r in results if r["category"] == category]
        qs = users.objects.filter(pk__in=ids, is_active=True)
        field = users.get_email_field_name()
        found = list(qs.order_by("pk").values_list(field, flat=True))
        if not apply:
            self.stdout.write(f"\ndry run: would deactivate {len(found)} {category} user(s); "
                              "run again with --apply to do it")
            for email in found[:20]:
                self.stdout.write(f"  {email}")
            return
        n = qs.update(is_active=False)
        self.stdout.write(f"\ndeactivated {n} {category} user(s)")
