# One image for the app, the worker and the HTTP API; its first argument chooses (see
# scripts/container-entrypoint.sh): `app` (the default), `api`, `worker`, `migrate`, or any command.
#
# BASE: a Debian bookworm image whose `python3` is Python 3.11: the official slim image by
# default (in production pin its digest too: --build-arg BASE=python:3.11.14-slim-bookworm@sha256:...);
# the image test builds on a base made from Debian's own packages (tests/deploy/test_image.py).
ARG BASE=python:3.11.14-slim-bookworm

# The builder: a virtual environment holding the pinned requirements.
FROM ${BASE} AS builder
# Behind a proxy that inspects TLS, mount its CA bundle into the build and name it here
# (buildah bud --volume /etc/ssl/certs/ca-certificates.crt:/run/ca.pem:ro --build-arg PIP_CERT=/run/ca.pem).
# Only this stage sees it; the image keeps nothing of it.
ARG PIP_CERT=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# pip itself and the test suites some packages ship with stay out of the image.
RUN /opt/venv/bin/pip install --quiet -r /tmp/requirements.txt \
 && /opt/venv/bin/pip uninstall --quiet --yes pip setuptools \
 && find /opt/venv/lib/python3*/site-packages -depth -type d -name tests \
        \( -path "*/pandas/tests" -o -path "*/numpy/*tests" -o -path "*/pyarrow/tests" \) -exec rm -rf {} +
COPY . /app
RUN /opt/venv/bin/python -m compileall -q /app

# The runtime: the base, tesseract (it reads scanned statement PDFs), the environment, the project.
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt/* /var/log/dpkg.log /usr/share/doc/* /usr/share/man/* \
 && groupadd --system --gid 10001 recon \
 && useradd --system --uid 10001 --gid recon --create-home --home-dir /home/recon --shell /usr/sbin/nologin recon \
 && mkdir /data && chown recon:recon /data
COPY --from=builder /opt/venv /opt/venv
# The project stays root's, read-only to the app; everything it writes goes to /data.
COPY --from=builder /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RECON_DATA_DIR=/data
WORKDIR /app
USER recon:recon
VOLUME ["/data"]
EXPOSE 8501 8000
# Asks what the container serves: the app's /_stcore/health, the API's /api/v1/health/db, or
# whether the worker's process lives.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/app/scripts/container-entrypoint.sh", "health"]
ENTRYPOINT ["/app/scripts/container-entrypoint.sh"]
CMD ["app"]
