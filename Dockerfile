# One image per service, built from the workspace: docker build --build-arg SERVICE=customer_service .
FROM python:3.11-slim AS base
ARG SERVICE
ENV PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
RUN uv sync --frozen --no-dev --all-packages
ENV SERVICE_MODULE=${SERVICE}
EXPOSE 8000
CMD ["sh", "-c", "exec uv run --frozen --no-sync python -m $SERVICE_MODULE"]
