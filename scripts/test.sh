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
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff"; python3 -m ruff check gitkube tests bench
echo "== import-linter"; lint-imports
echo "== mypy"; python3 -m mypy
echo "== pytest"; python3 -m pytest -q -p no:cacheprovider "$@"
