# The desk's own image for docker-compose users: every stage runs from it with a different command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY otcdesk ./otcdesk
COPY streams ./streams
COPY producers ./producers
COPY consumers ./consumers
COPY schemas ./schemas
RUN pip install --no-cache-dir .
ENV OTCDESK_STACK=external
ENTRYPOINT ["otcdesk"]
