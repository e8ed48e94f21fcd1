# Sourced by browser_setup.sh and redis_setup.sh: install Debian packages only when missing, as root or through a
# password-less `sudo -n`; otherwise stop with a message naming the packages, why they are needed and the exact
# command to run, so `make test` never fails with a bare "sudo: a password is required".

# apt_install WHY PACKAGE... : install PACKAGEs with apt-get (the caller checked they are missing).
apt_install() {
    local why="$1"
    shift
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if sudo -n true >/dev/null 2>&1; then
            sudo="sudo -n"
        else
            {
                echo "ERROR: missing Debian package(s): $*"
                echo "  needed for: $why"
                echo "  this is not root and 'sudo -n' is not available (no sudo, or it asks for a password),"
                echo "  so they cannot be installed here. Install them once yourself, then run make again:"
                echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends $*"
                echo "  (or run only the tests that need neither: .venv/bin/python -m pytest -m 'not e2e')"
            } >&2
            exit 1
        fi
    fi
    echo "installing Debian package(s) with ${sudo:-apt-get as root}: $* ($why)"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
