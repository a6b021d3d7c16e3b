# Sourced by the scripts in this folder: installs, once, what building and testing need on
# Debian or Ubuntu. Every step checks first, so running it again costs nothing.

# Installs the Debian packages given that are not installed yet.
ensure_apt_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The Rust toolchain: Debian's own cargo is too old for this project, so rustup provides it.
ensure_rust() {
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  if ! command -v cargo >/dev/null 2>&1; then
    ensure_apt_packages curl ca-certificates
    echo "installing the Rust toolchain with rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt >&2
    . "$HOME/.cargo/env"
  fi
}

# Node.js and npm build the front end (cargo's build script runs npm in ui/).
ensure_node() {
  command -v node >/dev/null 2>&1 || ensure_apt_packages nodejs
  command -v npm >/dev/null 2>&1 || ensure_apt_packages npm
}

# What the headless build needs: a C compiler for the bundled SQLite, Rust, Node.js for the UI.
ensure_build_tools() {
  ensure_apt_packages build-essential pkg-config
  ensure_rust
  ensure_node
}

# The desktop app (Tauri): WebKitGTK 4.1, the tray's indicator library, and libdbus for the
# keychain (Secret Service).
ensure_desktop_packages() {
  ensure_apt_packages libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev
}

# What the desktop tests drive the window with: a virtual display, WebKitWebDriver
# (webkit2gtk-driver) and tauri-driver (built with cargo, once).
ensure_desktop_test_tools() {
  ensure_apt_packages xvfb webkit2gtk-driver procps
  # A private session bus with a throwaway keyring, for the keychain tests; and the desktop's
  # side of notifications, the tray and the clipboard (e2e/desktop-session.py).
  ensure_apt_packages dbus-daemon gnome-keyring libsecret-tools python3-dbus python3-gi python3-xlib xclip
  if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "installing tauri-driver with cargo" >&2
    cargo install --locked --quiet tauri-driver --version '^2' >&2
  fi
}

# The independent signers the signature tests check this monitor against: the standardwebhooks
# package (v1, HMAC) and cryptography (v1a, Ed25519), in a venv outside the repository, made with
# Debian's python3 (python3-venv provides its pip), and Prometheus's text parser for the metrics
# test. Exports KYC_MONITOR_TEST_PYTHON for the tests.
ensure_python_signers() {
  local venv=/var/cache/kyc-monitor/venv
  if ! "$venv/bin/python" -c 'import standardwebhooks, cryptography' >/dev/null 2>&1; then
    [ -x /usr/bin/python3 ] || ensure_apt_packages python3
    /usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || ensure_apt_packages python3-venv
    echo "installing the independent webhook signers in $venv" >&2
    mkdir -p "$(dirname "$venv")"
    /usr/bin/python3 -m venv --clear "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      'standardwebhooks==1.1.0' 'cryptography==50.0.2' >&2
  fi
  # The metrics test parses /metrics with Prometheus's own Python parser (prometheus_client).
  if ! "$venv/bin/python" -c 'import prometheus_client' >/dev/null 2>&1; then
    echo "installing the Prometheus text parser in $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      'prometheus_client==0.26.0' >&2
  fi
  # Rotation is also checked with Svix's own library, which senders built on Svix sign with.
  if ! "$venv/bin/python" -c 'import svix.webhooks' >/dev/null 2>&1; then
    echo "installing the Svix webhook library in $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'svix==2.9.1' >&2
  fi
  # The alerts test receives alert emails with a real SMTP server (aiosmtpd).
  if ! "$venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
    echo "installing the SMTP server for the alert tests in $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      'aiosmtpd==1.4.6' >&2
  fi
  export KYC_MONITOR_TEST_PYTHON="$venv/bin/python"
}

# Litestream, the SQLite streaming replicator the replication test runs beside `serve`: its
# Linux binary as published on npm, installed in a cache folder outside the repository. Exports
# KYC_MONITOR_TEST_LITESTREAM for the tests (one already set, to another binary, is kept).
ensure_litestream() {
  [ -n "${KYC_MONITOR_TEST_LITESTREAM:-}" ] && return 0
  local dir=/var/cache/kyc-monitor/litestream
  local package=@flydotio/litestream-linux-x64
  local bin="$dir/node_modules/$package/litestream"
  if [ "$(uname -m)" != x86_64 ]; then
    echo "npm's $package is for x86_64 only: set KYC_MONITOR_TEST_LITESTREAM to a Litestream 0.3 binary for the replication test" >&2
    return 0
  fi
  if ! "$bin" version >/dev/null 2>&1; then
    ensure_node
    echo "installing Litestream ($package) in $dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --save-exact "$package@1.0.1" >&2
  fi
  export KYC_MONITOR_TEST_LITESTREAM="$bin"
}

# Whether a window can be shown here.
has_display() {
  [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]
}

# Where cargo puts what it builds (CARGO_TARGET_DIR or ./target).
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# The OpenID Provider the team sign-in tests run (node's oidc-provider, tests/idp), installed
# from its lock file into tests/idp/node_modules, not globally.
ensure_test_idp() {
  ensure_node
  local dir=tests/idp
  # A copy of the lock file marks what node_modules was installed from.
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"; then
    echo "installing the test identity provider (npm ci in $dir)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund >&2)
    cp "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"
  fi
}
