# Image for the api, workers and beat services of compose.yaml.
FROM python:3.11-slim
WORKDIR /app
# bubblewrap: the sandbox of suite-function code (call_function refuses to run it without; the container
# must also be allowed to create namespaces, see README "Threat model").
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap libseccomp2 \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu || pip install --no-cache-dir "torch==2.13.0"
COPY pyproject.toml README.md ./
COPY autointerp autointerp
COPY agent agent
COPY tools tools
COPY workers workers
COPY store store
COPY evals evals
RUN pip install --no-cache-dir .
ENV AUTOINTERP_HOME=/data/autointerp
ENTRYPOINT []
CMD ["autointerp", "--help"]
