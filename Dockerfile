# The desk's own image for docker-compose users: every stage runs from it with a different command.
# The first stage builds the wheel (the package and the data it reads at run time: Avro schemas,
# ClickHouse migrations and report queries, venue responses); the second installs that wheel and
# nothing else, so the image runs exactly what `pip install otcdesk-*.whl` users run.
# tests/unit/test_wheel_contents.py builds the wheel from the files this first stage copies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY otcdesk ./otcdesk
COPY streams ./streams
COPY producers ./producers
COPY consumers ./consumers
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/otcdesk-*.whl && rm -rf /wheels
ENV OTCDESK_STACK=external OTCDESK_STATE_DIR=/var/lib/otcdesk
WORKDIR /var/lib/otcdesk
ENTRYPOINT ["otcdesk"]
