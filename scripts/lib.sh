# Shared by scripts/test, scripts/e2e and scripts/bench (sourced, not run): installs what the tests need when it
# is missing on a fresh Debian machine that has only the Rust toolchain.

# Runs a command as root (directly when root, else through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt-get install, with one apt-get update before the first install of the run.
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root apt-get update
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# Node.js 18 or later and npm: installed from apt when absent; an older Node.js is an error.
# $1 says what needs it (for the message).
ensure_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "== installing nodejs and npm"
    apt_install nodejs npm
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 18 ]; then
    echo "Node.js 18 or later is needed ($1), found $(node --version)" >&2
    exit 1
  fi
}

# `npm ci` in folder $1 (its package-lock.json pins every version) when $1/node_modules is
# missing.
npm_ci_if_missing() {
  if [ ! -d "$1/node_modules" ]; then
    echo "== npm ci in $1"
    (cd "$1" && npm ci --no-audit --no-fund)
  fi
}

# Prism, the mock server the conformance tests (tests/api/conformance.rs) check the provider
# presets against: Node.js, then the version pinned in tests/conformance/package-lock.json.
ensure_conformance_tools() {
  ensure_node "Prism, for tests/api/conformance.rs"
  npm_ci_if_missing tests/conformance
}

# The Python interpreter whose packages apt installs (python3-pyotp goes there, not into a pyenv
# or virtualenv Python that may come first on PATH). tests/api/totp.rs looks for pyotp there too.
debian_python=/usr/bin/python3

# The independent TOTP oracles of tests/api/totp.rs: oathtool (Debian package oathtool), zbarimg
# (zbar-tools) and Python's pyotp for Debian's python3 (python3-pyotp, which brings python3 when
# it is absent). Installs only what is missing.
ensure_totp_tools() {
  local missing=()
  command -v oathtool >/dev/null 2>&1 || missing+=(oathtool)
  command -v zbarimg >/dev/null 2>&1 || missing+=(zbar-tools)
  "$debian_python" -c 'import pyotp' >/dev/null 2>&1 || missing+=(python3-pyotp)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]} (for tests/api/totp.rs)"
    apt_install "${missing[@]}"
  fi
}

# Schemathesis, pinned, in its own virtualenv under target/ (Debian's python3 with python3-venv;
# both installed when missing). scripts/schemathesis runs it against a live daemon.
schemathesis_version=4.32.5
schemathesis_venv=target/schemathesis-venv
schemathesis="$schemathesis_venv/bin/schemathesis"
ensure_schemathesis() {
  if [ -x "$schemathesis" ] && "$schemathesis" --version 2>/dev/null | grep -qF "$schemathesis_version"; then
    return
  fi
  if ! "$debian_python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "== installing python3-venv (for schemathesis)"
    apt_install python3-venv
  fi
  echo "== installing schemathesis $schemathesis_version in $schemathesis_venv"
  rm -rf "$schemathesis_venv"
  "$debian_python" -m venv "$schemathesis_venv"
  "$schemathesis_venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$schemathesis_version"
}

# cargo-afl, pinned: builds and runs the fuzz targets of fuzz/ under AFL++ on the stable
# toolchain (scripts/fuzz, FUZZING.md). `cargo install` builds AFL++ from the source in the
# crate (a C compiler and make are needed: build-essential when missing).
cargo_afl_version=0.18.2
ensure_cargo_afl() {
  if cargo afl --version 2>/dev/null | grep -qF "$cargo_afl_version"; then
    return
  fi
  if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
    echo "== installing build-essential (for cargo-afl)"
    apt_install build-essential
  fi
  echo "== installing cargo-afl $cargo_afl_version"
  cargo install --locked cargo-afl --version "$cargo_afl_version"
  # AFL++ for this rustc (a no-op, answered with an error, when it is built already).
  cargo afl config --build >/dev/null 2>&1 || true
}

# PostgreSQL from Debian's archive, for the tests of `storage.backend: postgres`: each test
# process starts its own throwaway server from it (tests/support/postgres.rs); openssl makes
# the certificates of the TLS test.
ensure_postgres() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}
