# ovserve: the OVMS API (TF Serving and KServe v2, REST and gRPC) for OpenVINO models.
#   docker build -t ovserve .
#   docker run --rm -p 8000:8000 -p 9000:9000 --shm-size=1g ovserve
# Tensors travel between processes through /dev/shm: give the container room (--shm-size);
# with docker's default 64 MiB ovserve shrinks its arenas and says so in the log.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/ovserve
COPY pyproject.toml README.md ./
COPY ovserve ./ovserve
COPY frontend ./frontend
COPY workers ./workers
COPY shared ./shared
COPY models ./models
RUN pip install . \
    && useradd --uid 5000 --no-create-home --shell /usr/sbin/nologin ovserve \
    && mkdir -p /home/ovserve && chown ovserve /home/ovserve

USER ovserve
ENV HOME=/home/ovserve
EXPOSE 8000 9000
ENTRYPOINT ["ovserve"]
CMD ["--model_name", "dummy", "--model_path", "/opt/ovserve/models/dummy", "--rest_port", "8000", "--port", "9000"]
