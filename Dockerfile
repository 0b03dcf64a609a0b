# One image for the API and the workers. BASE_IMAGE is what users get by default; a test can
# substitute a locally built base. JAX_EXTRA="cuda12" makes the GPU worker's image.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG JAX_EXTRA=""
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPTSERVE_DATA=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY optcore ./optcore
COPY worker ./worker
COPY api ./api
COPY examples ./examples
RUN python -m pip install . \
    && if [ -n "$JAX_EXTRA" ]; then python -m pip install "jax[$JAX_EXTRA]"; fi \
    && useradd --create-home --uid 10001 optserve \
    && mkdir -p /data && chown optserve /data
USER optserve

EXPOSE 8000
CMD ["uvicorn", "api.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
