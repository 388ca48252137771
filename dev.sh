#!/usr/bin/env bash
# One entry point for people and CI:
#   ./dev.sh serve   set up, build dist/ and serve it on http://127.0.0.1:8000
#   ./dev.sh test    set up, build dist/ and run every test (unit + end-to-end)
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

setup_python() {
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
}

apt_install() {  # apt_install COMMAND PACKAGE: install PACKAGE from Debian unless COMMAND exists
  if ! command -v "$1" >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
}

# Debian's emscripten compiles scikit-image for the page (wasm/); without it the build
# still works and says the classical tools will not run in the browser.
setup_wasm_toolchain() { apt_install emcc emscripten; }

case "${1:-}" in
  serve)
    setup_python
    setup_wasm_toolchain
    exec .venv/bin/python build.py serve "${@:2}"
    ;;
  test)
    setup_python
    setup_wasm_toolchain
    apt_install chromium chromium
    .venv/bin/python build.py
    exec .venv/bin/python -m pytest "${@:2}"
    ;;
  *)
    echo "usage: ./dev.sh serve|test" >&2
    exit 2
    ;;
esac
