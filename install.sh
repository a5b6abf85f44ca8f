#!/usr/bin/env bash
# Set up derive on Debian: TeX Live from Debian's packages (for the PDFs) and a Python
# virtual environment in .venv with derive installed from this checkout.
#   ./install.sh        the tool
#   ./install.sh test   the tool and what its tests need (also Chromium and its driver,
#                       for the browser test of the checking page)
set -euo pipefail
cd "$(dirname "$0")"

TEX_PACKAGES="texlive-latex-base texlive-latex-recommended texlive-pictures texlive-fonts-recommended lmodern poppler-utils"

DEBIAN_PACKAGES="$TEX_PACKAGES python3-venv"
[ "${1:-}" = "test" ] && DEBIAN_PACKAGES="$DEBIAN_PACKAGES chromium chromium-driver"

if command -v apt-get >/dev/null 2>&1; then
    missing=""
    for p in $DEBIAN_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
        else
            echo "install.sh: run as root to install the Debian packages:$missing" >&2
        fi
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv --system-site-packages .venv
# serve: the checking page (derive serve) is part of the tool a course runs.
extras="[serve]"
[ "${1:-}" = "test" ] && extras="[serve,test]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
echo "derive is installed in .venv: run .venv/bin/derive --help"
