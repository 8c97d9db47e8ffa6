#!/usr/bin/env bash
# Installs what building (and, with --browser, testing) natter needs, only
# when missing; a quick no-op when everything is present. Versions are pinned
# in ../shared/TOOLCHAIN.md terms: see docs/development.md.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"

say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*" >&2; }

# Trunk.toml pins the wasm-bindgen trunk expects; it must match Cargo.lock.
if ! grep -q "wasm_bindgen = \"$WASM_BINDGEN_VERSION\"" Trunk.toml; then
    say "Trunk.toml [tools] wasm_bindgen differs from Cargo.lock's wasm-bindgen $WASM_BINDGEN_VERSION; update Trunk.toml"
    exit 1
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

if [[ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]]; then
    say "installing trunk $TRUNK_VERSION (newer trunk needs a newer rustc; several minutes)"
    cargo install --locked trunk --version "$TRUNK_VERSION"
fi

if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (matches Cargo.lock)"
    # Not --locked: one of its locked dependencies is no longer on crates.io.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if ! wasm-opt --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
    say "installing wasm-opt $BINARYEN_VERSION from npm into .tools/ (Debian's binaryen breaks the wasm)"
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null
fi

AXE_CORE_VERSION=4.14.1
if [[ "${1:-}" == "--browser" ]] && ! grep -qs "\"version\": \"$AXE_CORE_VERSION\"" .tools/node_modules/axe-core/package.json; then
    say "installing axe-core $AXE_CORE_VERSION from npm into .tools/ (accessibility checks in the browser tests)"
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund "axe-core@$AXE_CORE_VERSION" >/dev/null
fi

if [[ "${1:-}" == "--browser" ]] && ! [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    say "installing Debian's chromium and chromium-driver"
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if [[ "${1:-}" == "--browser" ]] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    say "installing Debian's postgresql (storage tests start a throwaway cluster of their own)"
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    # Only the binaries: no system cluster left running on port 5432.
    if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
        $sudo mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi

if [[ "${1:-}" == "--browser" ]] && ! command -v nats-server >/dev/null; then
    say "installing Debian's nats-server (the tests of several nodes start one of their own)"
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nats-server >/dev/null
fi

# trunk builds offline (no tool downloads); make sure cargo has every crate.
cargo fetch --locked >/dev/null 2>&1 || cargo fetch --locked
