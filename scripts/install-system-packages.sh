#!/usr/bin/env bash
# Debian packages the test suite needs: the PostgreSQL server binaries (a throwaway cluster
# is started per test session), Chromium for the browser test, buildah and debootstrap for the
# image test, Dovecot for the IMAP mail test, and what the app itself needs
# (scripts/install-app-packages.sh: tesseract for scanned statement PDFs). Installs only what is missing; needs root or sudo.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v runuser >/dev/null || missing+=(util-linux)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
compgen -G "/usr/share/tesseract-ocr/*/tessdata/eng.traineddata" >/dev/null || missing+=(tesseract-ocr-eng)
# The image test (tests/deploy): buildah builds and runs the image, debootstrap makes its base.
command -v buildah >/dev/null || missing+=(buildah)
[ -x /usr/sbin/debootstrap ] || command -v debootstrap >/dev/null || missing+=(debootstrap)
# The IMAP mail test starts a Dovecot server of its own on 127.0.0.1.
[ -x /usr/sbin/dovecot ] || command -v dovecot >/dev/null || missing+=(dovecot-imapd)

exec "$(dirname "$0")/apt-install-missing.sh" "${missing[@]}"
