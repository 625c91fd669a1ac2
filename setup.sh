#!/usr/bin/env bash
# Set up crossling on a fresh machine: a virtual environment in .venv with every dependency.
# torch comes first and pinned to the CPU wheel: a plain `torch` requirement would pull a multi-GB CUDA build.
# ./setup.sh --cuda installs that CUDA build instead (PyPI's Linux wheel of the same version), for a machine with an
# NVIDIA GPU: then --device cuda (or auto) runs extraction on the GPU, and --fit-device cuda the PARAFAC2 fits.
set -euo pipefail
cd "$(dirname "$0")"

torch_source=()
case "${1:-}" in
    "") ;;
    --cuda) torch_source=(--index-url https://pypi.org/simple) ;;
    *) echo "usage: ./setup.sh [--cuda]" >&2; exit 2 ;;
esac

# Debian's package lists (the demo fetches LibreOffice Help with `apt-get download`) and Chromium (the
# report test opens the report in a real browser). Skipped where there is no apt or no root.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    if ! command -v chromium >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "${torch_source[@]}" torch==2.13.0
if [ ${#torch_source[@]} -gt 0 ] && ! .venv/bin/python -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "setup.sh --cuda: torch's CUDA build is installed but sees no GPU (driver missing?); --device cpu still works" >&2
fi
.venv/bin/python -m pip install --quiet -e ".[test,fast,ray]"
echo "crossling is installed in .venv: run .venv/bin/crossling --help"
