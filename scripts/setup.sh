#!/usr/bin/env bash
# Set up .venv with the package, its export runtimes and the test tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[export,dev]"

# TFLite metadata writers (for MediaPipe / the Android Task Library). tflite-support 0.4.4 pins
# protobuf<4, which TensorFlow 2.21 cannot use, so it goes in without its dependencies: only its
# metadata writers are imported, and they work under protobuf 7.
.venv/bin/python -m pip install -q --no-deps "tflite-support==0.4.4"

# ...and its compiled modules link libusb-1.0.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q libusb-1.0-0 >/dev/null; }
  else
    echo "setup: install the system library libusb-1.0-0 (e.g. sudo apt-get install libusb-1.0-0);" \
         "TFLite metadata needs it" >&2
  fi
fi
echo "setup: done (.venv)"
