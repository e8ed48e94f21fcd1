# The image of the aws-emulator and datasets services in docker-compose.yaml: this repository's include/ (the
# moto-based AWS emulator and the local MNIST dataset server) on python:3.12-slim.
#
# Its packages are the emulator's pins from the files .venv is built from, not a second list of versions:
# moto[server], numpy and mlxtend from requirements-dev.txt, Pillow from requirements.txt.
#
# Build context: the repository root (docker-compose.yaml sets it); emulator.Dockerfile.dockerignore beside this
# file keeps the context to the files copied below.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt requirements-dev.txt /app/
RUN grep -E '^(moto\[server\]|numpy|mlxtend)==' requirements-dev.txt > emulator-requirements.txt \
    && grep -E '^Pillow==' requirements.txt >> emulator-requirements.txt \
    && test "$(wc -l < emulator-requirements.txt)" -eq 4 \
    && pip install -r emulator-requirements.txt

COPY include/ /app/include/
# The built-in algorithm's image per region: the emulator refuses training images that are not the region's one.
COPY dags/sagemaker_mlops/data/algorithm_images.json /app/dags/sagemaker_mlops/data/algorithm_images.json
ENV PYTHONPATH=/app/include

# Not root at run time. /data/datasets is where the datasets service builds and serves its zips (a named volume
# in docker-compose.yaml, which takes this folder's owner when first created).
RUN useradd --create-home --uid 10001 emulator \
    && mkdir -p /data/datasets \
    && chown emulator /data/datasets
USER emulator

EXPOSE 4566 8765
CMD ["python", "-m", "aws_emulator", "--host", "0.0.0.0", "--port", "4566"]
