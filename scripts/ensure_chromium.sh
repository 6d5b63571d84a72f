#!/usr/bin/env bash
# Make sure headless Chromium and its WebDriver are installed, for the browser test
# (tests/examples/test_example_browser.py). Debian/Ubuntu packages: chromium, chromium-driver.
#
# Installs them with apt-get when they are missing and this user is root or can use
# sudo without a password. Otherwise it says what is missing and how to add it, and
# still exits 0: a missing browser is not this script's failure; the test decides
# (it skips, or fails when CI=true).
set -uo pipefail

CHROMIUM=${DFLOCK_CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${DFLOCK_CHROMEDRIVER:-/usr/bin/chromedriver}

missing=()
[[ -x "$CHROMIUM" ]] || missing+=(chromium)
[[ -x "$CHROMEDRIVER" ]] || missing+=(chromium-driver)

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "ensure_chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM") and" \
        "$("$CHROMEDRIVER" --version 2>/dev/null | cut -d' ' -f1-2 || echo "$CHROMEDRIVER")" \
        "are installed"
    exit 0
fi

advice() {
    cat >&2 <<MSG
ensure_chromium: missing ${missing[*]} ($CHROMIUM, $CHROMEDRIVER).
The browser test (tests/examples/test_example_browser.py) needs them; without them it is
skipped, or fails when CI=true. Install them with:

    sudo apt-get install -y ${missing[*]}

(or run scripts/ensure_chromium.sh as root).
MSG
}

if ! command -v apt-get >/dev/null; then
    echo "ensure_chromium: no apt-get on this machine; install Chromium and chromedriver" \
        "with your package manager (binaries expected at $CHROMIUM and $CHROMEDRIVER)" >&2
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    advice
    exit 0
fi

echo "ensure_chromium: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# Update the package lists only when the first attempt cannot find the packages.
if ! "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
    "${as_root[@]}" apt-get update -q \
        && "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" \
        || { echo "ensure_chromium: apt-get could not install ${missing[*]}" >&2; advice; }
fi
exit 0
