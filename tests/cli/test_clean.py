"""`usercleaning clean FILE`: the batch engine locally (the same core as the
server's tasks), its output files, summary, progress bar and errors."""
import io
import os
import pty
import subprocess

import openpyxl
import pytest

EXTRA = "category,domain_type,mx_record,did_you_mean"


@pytest.fixture
def clean(binary, snapshot):
    def _clean(*args, env=None, stderr=None):
        return subprocess.run([binary, "clean", "--lists", snapshot, *args], capture_output=stderr is None,
                              stderr=stderr, timeout=300, text=True, env={**os.environ, **(env or {})})
    return _clean


def test_csv_is_written_beside_with_a_summary(clean, tmp_path):
    src = tmp_path / "users.csv"
    src.write_text("name,email\nJo,jo@gmail.com\nAl,al@mailinator.com\nAL,AL@mailinator.com\n,\n"
                   "Di,di@@x\nEd,ed+news@gmail.com\n")
    p = clean(str(src))
    assert p.returncode == 0, p.stderr
    out = (tmp_path / "users_cleaned.csv").read_text().splitlines()
    assert out == ["name,email," + EXTRA, "Jo,jo@gmail.com,white,legitimate,unknown,",
                   "AL,AL@mailinator.com,black,disposable,unknown,", ",,,blank,,",
                   "Di,di@@x,black,invalid,unknown,", "Ed,ed+news@gmail.com,grey,suspicious signs,unknown,"]
    s = p.stdout
    assert "users_cleaned.csv: 6 rows" in s
    for label, n in [("white", 1), ("grey", 1), ("black", 2), ("disposable", 1), ("invalid", 1),
                     ("suspicious signs", 1), ("invalid rows", 1), ("blank rows (kept)", 1),
                     ("duplicates removed", 1)]:
        assert any(line.split() and line.rsplit(None, 1) == [label, str(n)] for line in
                   (x.strip() for x in s.splitlines())), (label, s)
    assert not list(tmp_path.glob("*.part"))


def test_no_dedupe_stdout_and_tsv(clean, tmp_path):
    src = tmp_path / "l.tsv"
    src.write_text("email\tn\na@gmail.com\t1\nA@gmail.com\t2\n")
    p = clean(str(src), "--no-dedupe", "-o", "-")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["email\tn\t" + EXTRA.replace(",", "\t"),
                                     "a@gmail.com\t1\twhite\tlegitimate\tunknown\t",
                                     "A@gmail.com\t2\twhite\tlegitimate\tunknown\t"]
    assert "2 rows" in p.stderr  # the summary goes to stderr when the result is on stdout


def test_txt_to_xlsx(clean, tmp_path):
    src = tmp_path / "l.txt"
    src.write_text("\ufeffa@gmail.com\n\nx@mailinator.com\n")
    p = clean(str(src), "--format", "xlsx")
    assert p.returncode == 0, p.stderr
    rows = list(openpyxl.load_workbook(tmp_path / "l_cleaned.xlsx").active.iter_rows(values_only=True))
    assert rows == [("email", "category", "domain_type", "mx_record", "did_you_mean"),
                    ("a@gmail.com", "white", "legitimate", "unknown", None),
                    (None, None, "blank", None, None),
                    ("x@mailinator.com", "black", "disposable", "unknown", None)]


def test_output_format_follows_the_output_name(clean, tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["Email"])
    wb.active.append(["a@gmail.com"])
    buf = io.BytesIO()
    wb.save(buf)
    (tmp_path / "in.xlsx").write_bytes(buf.getvalue())
    p = clean(str(tmp_path / "in.xlsx"), "-o", str(tmp_path / "out.csv"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "out.csv").read_text().splitlines() == ["Email," + EXTRA,
                                                                "a@gmail.com,white,legitimate,unknown,"]


def test_progress_bar_on_a_terminal(clean, tmp_path):
    src = tmp_path / "big.csv"
    src.write_text("email\n" + "".join(f"user{i}@example.com\n" for i in range(200000)))
    master, slave = pty.openpty()
    p = clean(str(src), stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert p.returncode == 0
    text = seen.decode()
    assert "rows/s" in text and "ETA" in text and "/200000 rows" in text


def test_no_bar_when_not_a_terminal(clean, tmp_path):
    src = tmp_path / "l.csv"
    src.write_text("email\na@gmail.com\n")
    p = clean(str(src))
    assert p.returncode == 0 and p.stderr == ""


@pytest.mark.parametrize("content,reason", [
    (b"name\nJo\n", "no column holds email addresses"),
    (b"email\n\xff\xfe@x.com\n", "row 2, column 1 is not valid UTF-8"),
    (b"", "the file has no rows"),
])
def test_unreadable_lists_exit_1_with_the_reason(clean, tmp_path, content, reason):
    src = tmp_path / "bad.csv"
    src.write_bytes(content)
    p = clean(str(src))
    assert p.returncode == 1 and reason in p.stderr, p.stderr
    assert not (tmp_path / "bad_cleaned.csv").exists() and not list(tmp_path.glob("*.part"))


def test_usage_errors_exit_2(clean, tmp_path):
    assert clean(str(tmp_path / "list.pdf")).returncode == 2
    assert "Invalid file extension" in clean(str(tmp_path / "list.pdf")).stderr
    assert clean().returncode == 2
    p = clean(str(tmp_path / "a.csv"), "--format", "txt")
    assert p.returncode == 2 and "--format must be csv, tsv or xlsx" in p.stderr
    p = clean(str(tmp_path / "missing.csv"))
    assert p.returncode == 1 and "missing.csv" in p.stderr
