#!/usr/bin/env bash
# Debian packages the app needs to run: tesseract and its English data, which read scanned
# statement PDFs. Installs only what is missing; needs root or sudo. Without them the app runs
# and refuses scanned PDFs (text PDFs need nothing from the system).
set -euo pipefail

missing=()
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
compgen -G "/usr/share/tesseract-ocr/*/tessdata/eng.traineddata" >/dev/null || missing+=(tesseract-ocr-eng)

exec "$(dirname "$0")/apt-install-missing.sh" --optional "${missing[@]}"
