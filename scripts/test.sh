#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine, then run the
# static checks and the whole suite. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v diff >/dev/null || need_apt+=(diffutils)
# kubectl: the machine image ships 1.32 (Google Cloud SDK); elsewhere Debian's kubernetes-client.
command -v kubectl >/dev/null || need_apt+=(kubernetes-client)
# pods run in a bubblewrap sandbox; setpriv (util-linux) drops to an unprivileged uid
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v setpriv >/dev/null || need_apt+=(util-linux)
# the real age CLI, for interop tests of the daemon's age identity
command -v age >/dev/null || need_apt+=(age)
# headless Chromium for the dashboard's browser tests (Playwright drives /usr/bin/chromium)
command -v chromium >/dev/null || need_apt+=(chromium)
# etcd 3.4 (Debian etcd-server) for the etcd store's tests: they start their own loopback members
command -v etcd >/dev/null || need_apt+=(etcd-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi
# Debian's etcd-server enables an etcd service on 127.0.0.1:2379; the tests need none of it (where
# policy-rc.d or the lack of systemd kept it from starting this does nothing)
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl disable --now etcd >/dev/null 2>&1 || true
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff"; python3 -m ruff check gitkube tests bench
echo "== import-linter"; lint-imports
echo "== mypy"; python3 -m mypy
echo "== pytest"; python3 -m pytest -q -p no:cacheprovider "$@"
