"""`usercleaning check`: the API body per line, streaming, errors."""
import json
import os
import subprocess

import pytest

API_FIELDS = ["email", "domain", "category", "type", "mx_record", "premium", "domain_age",
              "date_added", "remaining_attempts_before_ban", "details"]


def lines(proc):
    assert proc.returncode == 0, proc.stderr
    return [json.loads(x) for x in proc.stdout.decode().splitlines()]


def test_arguments_give_one_api_body_each(run):
    out = lines(run("check", "test@gmail.com", "a@x.mailinator.com", "me@duck.com",
                    "john+x@gmail.com"))
    assert [list(o) for o in out] == [API_FIELDS] * 4
    assert [(o["category"], o["type"]) for o in out] == [
        ("white", "legitimate"), ("black", "disposable"), ("grey", "multi-alias services"),
        ("grey", "suspicious signs")]
    disp = out[1]
    assert disp["domain"] == "x.mailinator.com"
    assert disp["details"]["matched"]["entry"] == "mailinator.com"
    assert disp["remaining_attempts_before_ban"] is None
    assert disp["mx_record"] == "unknown" and disp["domain_age"] == "unknown"
    assert disp["date_added"] == "07.12.2024"  # DD.MM.YYYY, as the hosted service writes it
    assert disp["details"]["date_added"] == "2024-12-07"  # ISO, for sorting
    assert out[0]["date_added"] == "not added" and out[0]["details"]["date_added"] is None
    assert out[3]["details"]["normalized"] == "john@gmail.com"


def test_invalid_address_is_black_invalid_with_reason(run):
    (o,) = lines(run("check", "jo..hn@example.com"))
    assert (o["category"], o["type"]) == ("black", "invalid")
    assert o["details"]["reason"] == "An email address cannot have two periods in a row."
    assert o["details"]["normalized"] is None


def test_stdin_lines_in_order_blank_lines_skipped(run):
    data = "a@gmail.com\r\nb@mailinator.com\n\n \t\r\nnot-an-address\nc@duck.com\n\n"
    out = lines(run("check", stdin=data.encode()))
    assert [o["email"] for o in out] == ["a@gmail.com", "b@mailinator.com", "not-an-address",
                                         "c@duck.com"]
    assert [o["type"] for o in out] == ["legitimate", "disposable", "invalid",
                                        "multi-alias services"]


def test_overlong_line_is_invalid_and_does_not_break_the_stream(run):
    data = b"x" * 100000 + b"@example.com\nok@gmail.com\n"
    out = lines(run("check", stdin=data))
    assert len(out) == 2
    assert out[0]["type"] == "invalid" and "too long" in out[0]["details"]["reason"]
    assert out[1]["email"] == "ok@gmail.com"


def test_binary_garbage_never_crashes(run):
    data = bytes(range(256)) * 50 + b"\n\xff\xfe@\xc3\n@@@\n"
    out = lines(run("check", stdin=data))
    assert all(o["type"] == "invalid" for o in out)


def test_explain_is_readable(run):
    p = run("check", "--explain", "john@gmial.com")
    assert p.returncode == 0
    text = p.stdout.decode()
    assert "black / disposable" in text
    assert "did you mean: john@gmail.com?" in text


def test_bad_option_and_missing_snapshot(run, tmp_path):
    p = run("check", "--nope", "x@y.com")
    assert p.returncode == 2 and b"usage" in p.stderr
    p = run("check", "x@y.com", lists=False, env={"USER_CLEANING_LISTS": str(tmp_path / "no")})
    assert p.returncode == 1
    assert b"cannot load lists" in p.stderr
    bad = tmp_path / "bad.snap"
    bad.write_bytes(b"garbage" * 100)
    p = run("check", "x@y.com", lists=False, env={"USER_CLEANING_LISTS": str(bad)})
    assert p.returncode == 1 and b"not a list snapshot" in p.stderr


def test_env_and_default_snapshot_location(binary, snapshot):
    p = subprocess.run([binary, "check", "a@mailinator.com"], capture_output=True,
                       env={**os.environ, "USER_CLEANING_LISTS": snapshot})
    assert json.loads(p.stdout)["type"] == "disposable"


def _peak_rss_kib(binary, snapshot, n):
    """Peak RSS of one `check` over n stdin lines, measured by a wrapper child."""
    script = (
        "import resource, subprocess, sys\n"
        "p = subprocess.Popen([sys.argv[1], 'check', '--lists', sys.argv[2]],"
        " stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)\n"
        "line = b'someone.%d@example.com\\nx@mailinator.com\\n'\n"
        "for i in range(int(sys.argv[3]) // 2):\n"
        "    p.stdin.write(line % i)\n"
        "p.stdin.close(); assert p.wait() == 0\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    out = subprocess.run(["/usr/bin/python3", "-c", script, binary, snapshot, str(n)],
                         capture_output=True, check=True, timeout=600)
    return int(out.stdout)


@pytest.mark.skipif(os.environ.get("UC_SANITIZED") == "1",
                    reason="the sanitizer runtime's own bookkeeping grows with work done")
def test_streaming_runs_in_constant_memory(binary, snapshot):
    small = _peak_rss_kib(binary, snapshot, 2_000)
    large = _peak_rss_kib(binary, snapshot, 200_000)
    # 100x the input may not grow the peak by more than 2 MiB (allocator noise).
    assert large - small < 2048, (small, large)


def test_many_lines_across_read_buffers_keep_order(run):
    emails = [f"user{i}@{'mailinator.com' if i % 3 == 0 else 'gmail.com'}" for i in range(30000)]
    p = run("check", "--format", "tsv", stdin=("\n".join(emails) + "\n").encode())
    assert p.returncode == 0
    rows = p.stdout.decode().splitlines()
    assert [r.split("\t")[2] for r in rows] == emails
    assert all(r.startswith("black\tdisposable\t") == (i % 3 == 0) for i, r in enumerate(rows))


def test_nul_bytes_are_part_of_the_line(run):
    (o,) = lines(run("check", stdin=b"a\x00b@x.com\n"))
    assert o["type"] == "invalid" and "NUL" in o["details"]["reason"]
    assert o["email"] == "a\x00b@x.com"
