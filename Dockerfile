# One image for both services: `reglab serve` (web) and `reglab worker` (training).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 REGLAB_HOME=/data
WORKDIR /srv/reglab
COPY pyproject.toml README.md ./
COPY app app
COPY store store
COPY worker worker
COPY templates templates
COPY static static
# Editable, so templates/ and static/ are found beside app/ as in a checkout.
RUN pip install -e .
VOLUME /data
EXPOSE 8000
CMD ["reglab", "serve", "--host", "0.0.0.0"]
