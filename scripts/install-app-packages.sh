#!/usr/bin/env bash
# Debian packages the app needs to run: tesseract and its English data, which read scanned
# statement PDFs. Installs only what is missing; needs root or sudo. Without them the app runs
# and refuses scanned PDFs (text PDFs need nothing from the system).
set -euo pipefail

missing=()
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
compgen -G "/usr/share/tesseract-ocr/*/tessdata/eng.traineddata" >/dev/null || missing+=(tesseract-ocr-eng)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "missing system packages: ${missing[*]} (install them with your package manager)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "missing system packages: ${missing[*]}; scanned statement PDFs cannot be read until they are installed" >&2
    exit 0
  fi
  sudo="sudo"
fi
echo "installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
