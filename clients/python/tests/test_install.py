"""The install the READMEs document: on Debian 12 `pip install` into the
system Python is refused (externally-managed-environment), so the package goes
into a venv made with --system-site-packages (Debian's requests, Django, Flask,
FastAPI stay visible). Offline, as here, pip must not fetch build tools:
--no-build-isolation uses Debian's setuptools, --no-index never asks PyPI."""
import pathlib
import subprocess
import sys

PKG = pathlib.Path(__file__).resolve().parents[1]


def test_pip_install_into_a_venv_with_system_site_packages(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    p = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-index",
                        "--no-build-isolation", str(PKG)], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    code = ("import user_cleaning, user_cleaning.flask, user_cleaning.fastapi, "
            "user_cleaning.django.forms, user_cleaning.django.checks;"
            "from user_cleaning import check_email, get_client_ip, Client;"
            "print(user_cleaning.__file__)")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(venv))  # the venv's copy, not the source tree
    listed = subprocess.run([str(venv / "bin" / "pip"), "show", "user-cleaning"],
                            capture_output=True, text=True, timeout=120)
    assert "Name: user-cleaning" in listed.stdout
