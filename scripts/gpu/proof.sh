#!/usr/bin/env bash
# The GPU proof on an NVIDIA machine with no internet, in two stages (one device call each, because a
# call carries at most 64 MiB and the offline bundle is about 70 MB; scripts/gpu/README.md):
#
#   bash scripts/gpu/proof.sh engine     # carry .whl/engine:   CUDA selftests + CUDA vs RapidOCR throughput
#   bash scripts/gpu/proof.sh services   # carry .whl/services: Redis + S3 + worker on CUDA, gpu checks,
#                                        #   CUDA vs Tesseract throughput, gpu-proof-<machine>.json
#
# The second stage needs the first stage's install (/tmp/filot-site) on the same, still-warm machine.
# Everything it writes for keeps goes to benchmarks/results/ and, when $OUT is set, to $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."

STAGE=${1:?usage: proof.sh engine|services [proof.py options]}
shift
SITE=/tmp/filot-site
DEBROOT=/tmp/filot-debs
PY=${PYTHON:-python3}
OUT_DIR=${OUT:-benchmarks/results}
mkdir -p "$OUT_DIR" benchmarks/results

install_wheels() {  # BUNDLE
  local bundle=.whl/$1
  ls "$bundle"/*.whl >/dev/null 2>&1 || { echo "proof.sh: no wheels in $bundle: run scripts/gpu/fetch-bundle.sh here and carry $bundle" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$bundle"/*.whl
}

export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

case "$STAGE" in
  engine)
    install_wheels engine
    touch "$SITE/.filot-engine-bundle"
    nvidia-smi | tee "$OUT_DIR/nvidia-smi.txt"
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name(0))"
    # -W default: a deprecation warning from the GPU image's packages must not end the run
    "$PY" -m pytest -c selftests/pytest.ini selftests/test_cuda_engine.py -q -W default \
      --junitxml "$OUT_DIR/selftests-cuda.xml" 2>&1 | tee "$OUT_DIR/selftests-cuda.log" \
      || echo "proof.sh: CUDA selftests FAILED (selftests-cuda.log); measuring anyway"
    # the same cards through RapidOCR on all 16 cores (the CPU engine with the same models)
    "$PY" -m benchmarks.ocr_throughput --engine cuda --engine rapidocr --batch 64 --cards 256 \
      --out "$OUT_DIR/vs-rapidocr" "$@"
    ;;
  services)
    [[ -f "$SITE/.filot-engine-bundle" ]] || { echo "proof.sh: stage 'engine' has not run on this machine (it went cold?): run it again first" >&2; exit 2; }
    install_wheels services
    mkdir -p "$DEBROOT"
    for deb in .whl/services/debs/*.deb; do dpkg -x "$deb" "$DEBROOT"; done  # never into /: it can break the image
    export PATH="$DEBROOT/usr/bin:$PATH"
    export LD_LIBRARY_PATH="$DEBROOT/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export TESSDATA_PREFIX="$DEBROOT/usr/share/tesseract-ocr/5/tessdata"
    redis-server --version
    tesseract --version 2>&1 | head -1 || echo "proof.sh: tesseract does not start here (the benchmark says why)"
    "$PY" scripts/gpu/proof.py "$@"
    ;;
  *)
    echo "proof.sh: unknown stage '$STAGE' (expected engine or services)" >&2
    exit 2
    ;;
esac
