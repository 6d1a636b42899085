#!/usr/bin/env bash
# Set up eximctl on a fresh Debian or Ubuntu machine, as root, then either
# run the main job on the bundled sites ("demo") or run the test suite
# ("test"). Everything comes from Debian's archive and PyPI.
set -euo pipefail

usage() {
    echo "usage: bash bootstrap.sh install|demo|test [pytest arguments...]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
action=$1
shift

if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap.sh: run as root (it installs packages and builds Exim)" >&2
    exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)

APT_PACKAGES=(
    # Exim's build: compiler, PCRE2, Berkeley DB, OpenSSL, libspf2.
    build-essential pkg-config perl libpcre2-dev libdb5.3-dev libssl-dev libspf2-dev
    # Sources, signatures and archives.
    dpkg-dev gnupg xz-utils ca-certificates
    # The lab: namespaces, the DNS server, ssh for remote checks.
    iproute2 nsd openssh-server openssh-client
    # An SMTP client with TLS for manual checks.
    swaks libnet-ssleay-perl libio-socket-ssl-perl
    # Python for eximctl itself.
    python3 python3-venv python3-pip
)

install_packages() {
    echo "== installing Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
    # The packaged NSD and sshd services are not used: the lab starts its own
    # instances inside network namespaces.
    if command -v systemctl >/dev/null && systemctl is-active --quiet nsd 2>/dev/null; then
        systemctl disable --now nsd || true
    fi
}

install_eximctl() {
    echo "== installing eximctl into $here/.venv"
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install -q --upgrade pip
    "$here/.venv/bin/pip" install -q -e "$here[dev]"
}

run_demo() {
    local eximctl="$here/.venv/bin/eximctl"
    echo "== eximctl build (bundled default site)"
    "$eximctl" build
    echo "== eximctl configure"
    "$eximctl" configure
    echo "== eximctl verify"
    "$eximctl" verify
    echo "== eximctl lab up"
    "$eximctl" lab up
    echo "== eximctl verify --lab"
    "$eximctl" verify --lab
}

run_tests() {
    cd "$here"
    "$here/.venv/bin/python" -m pytest "$@"
}

install_packages
install_eximctl
case "$action" in
    install) ;;
    demo) run_demo ;;
    test) run_tests "$@" ;;
    *) usage ;;
esac
