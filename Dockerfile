# Postwarden as a container image (docs/deploy.md "Container"): Debian slim, a non-root
# user, the data directory as a volume, configuration by environment variables.
#   docker build -t postwarden .      (or: buildah bud -t postwarden .)
#   docker run -p 8025:8025 -p 2525:2525 -v postwarden:/var/lib/postwarden postwarden
# Offline or behind a proxy that intercepts TLS: give pip a directory of wheels with
#   --build-arg PIP_FIND_LINKS=http://host:port/ --build-arg PIP_NO_INDEX=1

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
# pip reads these from the environment; empty means PyPI
ARG PIP_FIND_LINKS=
ARG PIP_NO_INDEX=
COPY pyproject.toml README.md LICENSE /src/
COPY docs/doctor.schema.json /src/docs/
COPY src /src/src
RUN python3 -m venv /opt/postwarden \
 && /opt/postwarden/bin/pip install --no-cache-dir --disable-pip-version-check "/src[postgres,ses]"

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/postwarden postwarden \
 && install -d -o postwarden -g postwarden -m 0700 /var/lib/postwarden
COPY --from=build /opt/postwarden /opt/postwarden
ENV PATH=/opt/postwarden/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    POSTWARDEN_DATA_DIR=/var/lib/postwarden \
    POSTWARDEN_HOST=0.0.0.0 \
    POSTWARDEN_PORT=8025 \
    POSTWARDEN_SMTP_LISTEN=0.0.0.0:2525
USER postwarden
WORKDIR /var/lib/postwarden
VOLUME ["/var/lib/postwarden"]
# the console and API; the SMTP relay
EXPOSE 8025 2525
# 200 once the database answers and a worker wrote a heartbeat
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('POSTWARDEN_PORT', '8025'), timeout=4)"]
# serve passes SIGTERM on: the worker finishes what it sends, the relay lets sessions end
STOPSIGNAL SIGTERM
ENTRYPOINT ["postwarden"]
CMD ["serve"]
