# The M+3 bot as a container: `m3bot run` by default (HTTP mode on PORT), `m3bot scheduler` for the
# reminders alone. Every dependency ships as a wheel, so the slim image needs no compiler: none is left
# behind. The process runs as an unprivileged user; SQLite data (if used) lives in the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY config config
COPY flows flows
COPY sandbox sandbox
COPY scheduler scheduler
COPY service service
COPY storage storage
COPY wording wording
RUN pip install . && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /data --create-home --shell /usr/sbin/nologin m3bot
USER m3bot
WORKDIR /data

# Inside a container the server must listen on every interface; publish only what should be reached.
ENV HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/m3bot.db
VOLUME ["/data"]
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3000')}/healthz\", timeout=2)"]

ENTRYPOINT ["m3bot"]
CMD ["run"]
