"""The client's batch calls and the Django audit command against the real
server, with real Django users (pytest-django's test database)."""
import csv
import io

import pytest
from django.core.management import CommandError, call_command

from user_cleaning import BatchError, BatchTask, Client, ConfigurationError


@pytest.fixture
def client(uc):
    return Client(uc.key, base_url=uc.url)


def test_batch_check_wait_download_delete(client, tmp_path):
    src = tmp_path / "list.csv"
    src.write_text("name,email\nJo,jo@gmail.com\nAl,al@mailinator.com\nAL,AL@mailinator.com\n")
    task = client.batch_check(src, "newsletter")
    assert isinstance(task, BatchTask) and task.status == "processing"
    assert task.message == "File upload successful. Processing started."
    seen = []
    done = client.batch_wait(task.task_id, timeout=60, poll=0.05, on_progress=seen.append)
    assert done.status == "completed" and done.progress == 1.0 and seen[-1] == done
    assert done.rows_total == 3 and done.counts["duplicates"] == 1
    assert done.counts["black"] == 1 and done.project_name == "newsletter"
    assert client.batch_download(task.task_id).decode().splitlines() == [
        "name,email,category,domain_type,mx_record,did_you_mean",
        "Jo,jo@gmail.com,white,legitimate,unknown,",
        "AL,AL@mailinator.com,black,disposable,unknown,"]
    out = client.batch_download(task.task_id, tmp_path / "out.csv")
    assert open(out).read().startswith("name,email,category")
    assert [t.task_id for t in client.batch_tasks()] == [task.task_id]
    client.batch_delete(task.task_id)
    with pytest.raises(BatchError) as e:
        client.batch_status(task.task_id)
    assert e.value.status == 404 and e.value.detail == "Task does not exist or has not started"


def test_file_objects_and_no_dedupe(client):
    data = io.BytesIO(b"a@gmail.com\nA@gmail.com\n")
    task = client.batch_check(data, "p", deduplicate=False, filename="l.txt")
    done = client.batch_wait(task.task_id, timeout=60, poll=0.05)
    assert done.rows_done == 2 and done.counts["duplicates"] == 0 and done.format == "txt"


def test_errors_are_raised_with_the_services_words(client, uc):
    with pytest.raises(BatchError) as e:
        client.batch_check(io.BytesIO(b"x"), "p", filename="list.pdf")
    assert e.value.status == 400 and e.value.detail == "Invalid file extension."
    task = client.batch_check(io.BytesIO(b"name\nJo\n"), "p", filename="n.csv")
    done = client.batch_wait(task.task_id, timeout=60, poll=0.05)
    assert done.status == "failed" and "no column holds email addresses" in done.failure_reason
    with pytest.raises(BatchError) as e:
        client.batch_download(task.task_id)
    assert e.value.status == 404 and e.value.detail.startswith("Task failed: ")
    with pytest.raises(ConfigurationError):
        Client("ucl_live_wrong", base_url=uc.url).batch_tasks()
    uc.stop()
    with pytest.raises(BatchError) as e:
        client.batch_tasks()
    assert e.value.status == 0


# ---- the Django command, with real users ----

@pytest.fixture
def users(django_user_model):
    made = {}
    for name, email in [("jo", "jo@gmail.com"), ("al", "al@mailinator.com"),
                        ("al2", "AL@mailinator.com"), ("ed", "ed@gmial.com"),
                        ("me", "me@duck.com"), ("nobody", "")]:
        made[name] = django_user_model.objects.create_user(username=name, email=email, password="x")
    return made


def run(*args):
    out = io.StringIO()
    call_command("user_cleaning_audit_users", *args, "--poll", "0.05", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_audit_reports_per_category_and_type(site, users, uc):
    out = run()
    assert "6 users" in out
    lines = {tuple(x.rsplit(None, 1)) for x in (l.strip() for l in out.splitlines()) if x}
    assert ("white", "1") in lines and ("grey", "1") in lines and ("black", "3") in lines
    assert ("no address", "1") in lines and ("disposable", "3") in lines
    assert ("multi-alias services", "1") in lines
    assert "ed@gmial.com -> ed@gmail.com" in out
    client = Client(uc.key, base_url=uc.url)
    assert client.batch_tasks() == []  # the task is deleted once read


@pytest.mark.django_db
def test_audit_export(site, users, tmp_path):
    path = tmp_path / "audit.csv"
    run("--export", str(path), "--keep-task")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    by_email = {r["email"]: r for r in rows}
    assert len(rows) == 6  # every user, duplicates of an address included
    assert by_email["al@mailinator.com"]["category"] == "black"
    assert by_email["AL@mailinator.com"]["domain_type"] == "disposable"
    assert by_email["jo@gmail.com"]["category"] == "white"
    assert by_email[""]["domain_type"] == "blank"
    assert int(by_email["jo@gmail.com"]["id"]) == users["jo"].pk


@pytest.mark.django_db
def test_deactivate_black_is_a_dry_run_until_applied(site, users, django_user_model):
    out = run("--deactivate", "black")
    assert "dry run: would deactivate 3 black user(s)" in out and "al@mailinator.com" in out
    assert django_user_model.objects.filter(is_active=False).count() == 0
    out = run("--deactivate", "black", "--apply")
    assert "deactivated 3 black user(s)" in out
    inactive = set(django_user_model.objects.filter(is_active=False).values_list("username", flat=True))
    assert inactive == {"al", "al2", "ed"}
    assert "would deactivate 0" in run("--deactivate", "black")


@pytest.mark.django_db
def test_audit_reports_a_bad_key_and_no_users(site, settings, django_user_model):
    assert "No users to check." in run()
    django_user_model.objects.create_user(username="x", email="x@gmail.com", password="x")
    settings.USER_CLEANING_API_KEY = "ucl_live_wrong"
    with pytest.raises(CommandError, match="refused"):
        run()
