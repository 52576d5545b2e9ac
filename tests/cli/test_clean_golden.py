"""`usercleaning clean` output pinned byte for byte on varied lists, so that
work on its speed cannot change a byte of what it writes.

Each list is generated here from a fixed seed (quotes, doubled quotes,
embedded CR/LF, the delimiter inside cells, leading and trailing spaces and
tabs, ragged rows, blank lines, case-folded duplicates, invalid, IDN, tagged
and relay addresses, UTF-8 text, cells from 0 to 700 bytes); the lists cross
the reader's 64 KiB chunks, the rows file's 1 MiB chunks and the writer's
1 MiB buffer. The expected SHA-256 of each output was taken from the
`clean` of main before the speed work (commit ebb4a59); a few properties of
each output are also checked directly, so a failure says more than "differs".

The outputs hold the engine's verdicts, so a change meant to change a verdict
(the lists, the engine) changes a hash too. Then diff the outputs of the
builds before and after that change (the lists are generated here), and once
only the verdicts meant to change differ, print the new hashes with
UC_GOLDEN_PRINT=1 and put them below.
"""
import hashlib
import os
import random
import subprocess

import openpyxl
import pytest

DOMAINS = ["gmail.com", "Outlook.com", "yahoo.com", "acme-corp.com", "mailinator.com",
           "guerrillamail.com", "10minutemail.com", "duck.com", "privaterelay.appleid.com",
           "gmial.com", "hotmial.com", "example.org", "web.de", "bücher.de", "xn--bcher-kva.de",
           "qq.com", "163.com", "corp.net", "startup.io", "localhost", "-bad-.com", "a..b.com"]
WORDS = ["Jo", "Zoë", "日本語", "Ann-Marie", "O'Neil", "smith, jr", 'say "hi"', "line\nbreak",
         "cr\r\nlf", "tab\there", " lead", "trail ", "", "x" * 70, "semi;colon", "\t"]


def address(r, i, seen):
    if seen and r.random() < 0.08:  # an earlier address again, maybe in other case
        a = r.choice(seen)
        return a.upper() if r.random() < 0.5 else a
    local = r.choice([f"user.{i}", f"User{i}+news", f"u{i}", "x" * r.randint(1, 90), f"a..{i}",
                      f'"quoted {i}"', f"info{i}", f"ok_{i}-{r.randint(0, 9)}"])
    a = f"{local}@{r.choice(DOMAINS)}"
    kind = r.random()
    if kind < 0.03:
        a = a.replace("@", "")  # no @
    elif kind < 0.05:
        a = f"  {a} \t"  # spaces the address parser trims
    elif kind < 0.06:
        a = a + "," + a  # the delimiter inside the address cell
    seen.append(a.strip())
    return a


def cell(r, text, delim):
    """A cell as a careful writer would put it: quoted only when needed, or
    now and then quoted anyway."""
    if any(ch in text for ch in (delim, '"', "\r", "\n")) or (text and r.random() < 0.05):
        return '"' + text.replace('"', '""') + '"'
    return text


def make_list(seed, rows, delim, eol, bom):
    r = random.Random(seed)
    seen, lines = [], []
    lines.append(delim.join(["id", "Name", "E-mail", "notes"]))
    for i in range(rows):
        k = r.random()
        if k < 0.01:
            lines.append("")  # a blank line
            continue
        cells = [str(i), r.choice(WORDS), address(r, i, seen),
                 "".join(r.choice(WORDS) for _ in range(r.randint(0, 9)))]
        if k < 0.03:
            cells = cells[:2]  # a short row: no address cell
        elif k < 0.05:
            cells += ["extra", "cells"]  # a wide row
        elif k < 0.06:
            cells[2] = ""  # an empty address cell
        lines.append(delim.join(cell(r, c, delim) for c in cells))
    text = eol.join(lines) + eol
    return ("\ufeff" if bom else "") + text


def make_txt(seed, rows):
    r = random.Random(seed)
    seen, lines = [], ["email"]
    for i in range(rows):
        lines.append("" if r.random() < 0.01 else address(r, i, seen).replace(",", " "))
    return "\n".join(lines) + "\n"


CASES = {
    # name: (input file name, generator, expected sha256 with dedupe, without)
    "comma-lf": ("list.csv", lambda: make_list(1, 30000, ",", "\n", False),
                 "01311cc6366c23bccd1fa8e83941d7a7ea8938a6433b520079300a99de92b0c7",
                 "aba3fe423a276fef939a8b4e5c86b8c910f9491f5aaf6edf1edc2e7187ab4a79"),
    "semicolon-crlf-bom": ("list.csv", lambda: make_list(2, 12000, ";", "\r\n", True),
                           "01e8becbab9119d751aa1ca31d34d70c86f0f0d7aa4f6f432127c0c904755651",
                           "4a0e2fcf043796e2f27f2a3bd2b9fbdbc423d3c8392f140dd71ee3d756ef3d90"),
    "tsv": ("list.tsv", lambda: make_list(3, 12000, "\t", "\n", False),
            "ca2209a851b7ddd070140c9d9929709922fef55ea8ba6d125f5a598305d97cca",
            "6e549abb0b0bf06a7094a0b7349896ebf7437d93e37ac2268cc26bdce24b09ad"),
    "txt": ("list.txt", lambda: make_txt(4, 20000),
            "b717966736238afd6f3a970d26957d39671c1c6b728502c913bc7adc371694ba",
            "2d9fa55f0ef0039b1216776c7e541ad3d088987b5cc08d7f3d3f08394d32a798"),
}

# An XLSX list (openpyxl) cleaned into CSV: the expected SHA-256 with dedupe, without.
XLSX_DEDUPE = "c1d23533514f85982390097d20b2811976801ace52b96fe3a898d57ab76e87d0"
XLSX_ALL = "70fa4cad203aada6ae315f58dd48a30048fc2fc41171f14547e44dee8048ecd3"


@pytest.mark.parametrize("dedupe", [True, False], ids=["dedupe", "no-dedupe"])
@pytest.mark.parametrize("case", list(CASES))
def test_output_is_pinned(binary, snapshot, tmp_path, case, dedupe):
    name, gen, want_dedupe, want_all = CASES[case]
    src = tmp_path / name
    src.write_bytes(gen().encode())
    out = tmp_path / ("out.tsv" if name.endswith(".tsv") else "out.csv")
    argv = [binary, "clean", "--lists", snapshot, str(src), "-o", str(out)]
    p = subprocess.run(argv + ([] if dedupe else ["--no-dedupe"]), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    data = out.read_bytes()
    if os.environ.get("UC_GOLDEN_PRINT"):  # how the expected hashes were taken
        print(f"\nGOLDEN {case} {'dedupe' if dedupe else 'all'} {hashlib.sha256(data).hexdigest()}")
        return
    text = data.decode()
    header = "category{0}domain_type{0}mx_record{0}did_you_mean".format(
        "\t" if name.endswith(".tsv") else ";" if "semicolon" in case else ",")
    assert header in text.split("\n", 1)[0]
    assert ("duplicates removed" in p.stdout + p.stderr)
    assert hashlib.sha256(data).hexdigest() == (want_dedupe if dedupe else want_all)


def make_xlsx(path, seed, rows):
    """A sheet with text, numbers and booleans (written as TRUE/FALSE in CSV)."""
    r = random.Random(seed)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "name", "email", "active", "score"])
    seen = []
    for i in range(rows):
        ws.append([i, r.choice([w for w in WORDS if w.strip()]), address(r, i, seen).strip() or "x",
                   r.random() < 0.5, round(r.random() * 1000, 3)])
    wb.save(path)


@pytest.mark.parametrize("dedupe", [True, False], ids=["dedupe", "no-dedupe"])
def test_xlsx_to_csv_is_pinned(binary, snapshot, tmp_path, dedupe):
    src, out = tmp_path / "list.xlsx", tmp_path / "out.csv"
    make_xlsx(src, 5, 3000)
    argv = [binary, "clean", "--lists", snapshot, str(src), "-o", str(out), "--format", "csv"]
    p = subprocess.run(argv + ([] if dedupe else ["--no-dedupe"]), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    data = out.read_bytes()
    if os.environ.get("UC_GOLDEN_PRINT"):
        print(f"\nGOLDEN xlsx {'dedupe' if dedupe else 'all'} {hashlib.sha256(data).hexdigest()}")
        return
    text = data.decode()
    assert text.split("\n", 1)[0].rstrip("\r") == \
        "id,name,email,active,score,category,domain_type,mx_record,did_you_mean"
    assert ",TRUE," in text and ",FALSE," in text
    want = XLSX_DEDUPE if dedupe else XLSX_ALL
    assert hashlib.sha256(data).hexdigest() == want
