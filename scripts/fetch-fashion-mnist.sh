#!/usr/bin/env bash
# Fetches Fashion-MNIST (60k train + 10k test 28x28 grayscale images, 10 classes) for dino4j.
#
#   scripts/fetch-fashion-mnist.sh [DEST]        (what `make data` runs)
#
# 1. As root on Debian/Ubuntu: installs the package dataset-fashion-mnist, which puts the four
#    .gz IDX files in /usr/share/datasets/fashion-mnist, where dino4j looks first.
# 2. Otherwise (or if the package is not available): downloads the same four files from the
#    dataset's public location into DEST (default data/fashion-mnist, dino4j's second choice)
#    and checks them against the published MD5 sums.
# FASHION_MNIST_URL overrides the download location (a mirror).
set -euo pipefail

SYSTEM_DIR=/usr/share/datasets/fashion-mnist
DEST=${1:-data/fashion-mnist}
BASE_URL=${FASHION_MNIST_URL:-http://fashion-mnist.s3-website.eu-central-1.amazonaws.com}

# name and MD5 of the upstream .gz files (README of zalandoresearch/fashion-mnist)
FILES=(
  "train-images-idx3-ubyte.gz 8d4fb7e6c68d591d4c3dfef9ec88bf0d"
  "train-labels-idx1-ubyte.gz 25c81989df183df01b3e8a0aad5dffbe"
  "t10k-images-idx3-ubyte.gz bef4ecab320f06d8554ea6380940ec79"
  "t10k-labels-idx1-ubyte.gz bb300cfdad3c16e7a12a480ee83cd310"
)

have_all() {
  local dir=$1 entry
  for entry in "${FILES[@]}"; do
    [ -s "$dir/${entry%% *}" ] || return 1
  done
}

if have_all "$SYSTEM_DIR"; then
  echo "Fashion-MNIST is already installed in $SYSTEM_DIR"
  exit 0
fi
if have_all "$DEST"; then
  echo "Fashion-MNIST is already in $DEST"
  exit 0
fi

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "Installing the Debian package dataset-fashion-mnist ..."
  if apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist \
      && have_all "$SYSTEM_DIR"; then
    echo "Fashion-MNIST installed in $SYSTEM_DIR"
    exit 0
  fi
  echo "apt-get could not install dataset-fashion-mnist; downloading instead" >&2
fi

if ! command -v curl >/dev/null 2>&1; then
  echo "error: curl not found; install curl, or as root on Debian/Ubuntu run" \
    "'apt-get install dataset-fashion-mnist', or copy the four .gz files into $DEST" >&2
  exit 1
fi

md5_of() {
  if command -v md5sum >/dev/null 2>&1; then
    md5sum "$1" | cut -d' ' -f1
  elif command -v md5 >/dev/null 2>&1; then
    md5 -q "$1"
  else
    echo "unknown"
  fi
}

mkdir -p "$DEST"
for entry in "${FILES[@]}"; do
  name=${entry%% *}
  want=${entry##* }
  if [ -s "$DEST/$name" ]; then
    continue
  fi
  echo "Downloading $BASE_URL/$name -> $DEST/$name"
  if ! curl -fL --retry 3 --connect-timeout 20 -o "$DEST/$name.part" "$BASE_URL/$name"; then
    rm -f "$DEST/$name.part"
    echo "error: download of $BASE_URL/$name failed (no network?). Get the four files another" \
      "way and put them in $DEST, set FASHION_MNIST_URL to a mirror, or as root on" \
      "Debian/Ubuntu run 'apt-get install dataset-fashion-mnist'" >&2
    exit 1
  fi
  got=$(md5_of "$DEST/$name.part")
  if [ "$got" != unknown ] && [ "$got" != "$want" ]; then
    rm -f "$DEST/$name.part"
    echo "error: $name from $BASE_URL has MD5 $got, expected $want" >&2
    exit 1
  fi
  mv "$DEST/$name.part" "$DEST/$name"
done
echo "Fashion-MNIST is in $DEST"
