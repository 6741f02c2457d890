#!/usr/bin/env bash
# Set up a fresh machine for healthplan: Debian packages (CJK fonts, HarfBuzz subsetting, poppler;
# PostgreSQL 15 and LibreOffice Writer, which the tests open the DOCX reports with, with
# --with-postgres), uv, and the locked Python environment. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

want=(fonts-noto-cjk libharfbuzz-subset0 poppler-utils)
if [[ "${1:-}" == "--with-postgres" ]]; then want+=(postgresql-15 libreoffice-writer-nogui); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "安装系统软件包 / installing Debian packages: ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v uv >/dev/null 2>&1; then
  echo "安装 uv / installing uv"
  python3 -m pip install --quiet uv
fi
export UV_COMPILE_BYTECODE=1
uv sync --frozen --quiet
