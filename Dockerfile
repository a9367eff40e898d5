# ovserve: the OVMS API (TF Serving and KServe v2, REST and gRPC) for OpenVINO models.
#   docker build -t ovserve .
#   docker run --rm -p 8000:8000 -p 9000:9000 --shm-size=1g ovserve
# Tensors travel between processes through /dev/shm: give the container room (--shm-size);
# with docker's default 64 MiB ovserve shrinks its arenas and says so in the log.
# BASE_IMAGE: any Debian/Ubuntu-like image with python3 (3.11+) and its venv module;
# deploy/build_image.sh builds one offline from Debian packages (mmdebstrap) for buildah.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="ovserve" \
      org.opencontainers.image.description="OpenVINO model server speaking the OVMS / TensorFlow Serving / KServe v2 APIs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# the CA bundle pip uses while building (e.g. the system one, when the base has local CAs)
ARG PIP_CERT
COPY pyproject.toml README.md /tmp/src/
COPY ovserve /tmp/src/ovserve
COPY frontend /tmp/src/frontend
COPY workers /tmp/src/workers
COPY shared /tmp/src/shared
COPY models /opt/ovserve/models
# a venv of its own (no system pip to conflict with), then only the installed package remains
RUN if [ -n "${PIP_CERT:-}" ]; then export PIP_CERT; else unset PIP_CERT; fi \
    && python3 -m venv /opt/ovserve/venv \
    && /opt/ovserve/venv/bin/pip install "/tmp/src[tokenizers]" \
    && rm -rf /tmp/src \
    && useradd --uid 5000 --no-create-home --shell /usr/sbin/nologin ovserve \
    && mkdir -p /home/ovserve && chown ovserve /home/ovserve

ENV PATH=/opt/ovserve/venv/bin:$PATH HOME=/home/ovserve
USER ovserve
WORKDIR /home/ovserve
EXPOSE 8000 9000
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s \
    CMD ["python3", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=2).status != 200)"]
ENTRYPOINT ["ovserve"]
CMD ["--model_name", "dummy", "--model_path", "/opt/ovserve/models/dummy", "--rest_port", "8000", "--port", "9000"]
