"""`make test`'s Debian packages: without root and without a password-less sudo, browser_setup.sh and
redis_setup.sh stop before apt-get with a message naming the packages, why, and the exact command to run; with a
password-less sudo they install through it; `make clean` says what it leaves. The scripts run with a PATH of stubs
(id, sudo, apt-get) so no test needs root or touches the machine's packages."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _stub(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A PATH holding only bash, dirname, true, chmod and stubs: a non-root `id`, an `apt-get` that logs its calls
    and "installs" each package as a stub binary, and no `sudo` (tests add one)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "dirname", "true", "chmod"):
        (bindir / tool).symlink_to(shutil.which(tool))
    _stub(bindir, "id", "echo 1000")
    log = tmp_path / "apt.log"
    _stub(
        bindir,
        "apt-get",
        f'echo "$@" >> {log}\n'
        f'if [ "$1" = install ]; then for p in "$@"; do case "$p" in -*|install) ;; '
        f'*) printf "#!/bin/bash\\necho $p 1.0\\n" > {bindir}/$p; chmod +x {bindir}/$p;; esac; done; fi',
    )
    return bindir


def _run(script: str, bindir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bindir), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [str(bindir / "bash"), str(ROOT / "include/dev" / script)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("script", "packages", "why"),
    [
        ("browser_setup.sh", "chromium fonts-liberation", "tests/test_ui_browser.py"),
        ("redis_setup.sh", "redis-server", "tests/test_celery_services.py"),
    ],
)
@pytest.mark.parametrize("sudo", ["absent", "asks for a password"])
def test_not_root_without_sudo_names_packages_and_command(
    fake_bin: Path, script: str, packages: str, why: str, sudo: str
) -> None:
    if sudo != "absent":
        _stub(fake_bin, "sudo", 'echo "sudo: a password is required" >&2; exit 1')
    result = _run(script, fake_bin)
    assert result.returncode == 1, result
    assert f"missing Debian package(s): {packages}" in result.stderr
    assert why in result.stderr
    assert f"sudo apt-get update && sudo apt-get install -y --no-install-recommends {packages}" in result.stderr
    assert not (fake_bin.parent / "apt.log").exists(), "apt-get ran although it could not succeed"


def test_passwordless_sudo_installs_through_it(fake_bin: Path) -> None:
    calls = fake_bin.parent / "sudo.log"
    _stub(fake_bin, "sudo", f'printf "%s\\n" "$*" >> {calls}\n[ "$1" = -n ] && shift\nexec "$@"')
    result = _run("redis_setup.sh", fake_bin)
    assert result.returncode == 0, result
    assert "redis-server 1.0" in result.stdout
    assert "-n apt-get install -y -qq --no-install-recommends redis-server" in calls.read_text()


def test_present_package_installs_nothing(fake_bin: Path) -> None:
    _stub(fake_bin, "redis-server", "echo redis-server 7")
    result = _run("redis_setup.sh", fake_bin)
    assert result.returncode == 0, result
    assert not (fake_bin.parent / "apt.log").exists()


def test_make_clean_says_what_it_leaves() -> None:
    dry = subprocess.run(["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "leaves the Debian packages" in dry
    for package in ("chromium", "fonts-liberation", "redis-server"):
        assert package in dry
