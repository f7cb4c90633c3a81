#!/bin/sh
# Remakes the committed image fixtures of ImageDecoderTest (see README.md). Needs ImageMagick 6
# (convert), exiftool, libjpeg-turbo's cjpeg and python3 with Pillow (PYTHON=... to choose one);
# the tests themselves need none of them.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 16x16 CMYK, four flat 8x8 quadrants of known ink amounts (0-255):
#   top-left C=255 | top-right M=255 | bottom-left Y=255 K=128 | bottom-right C=64 M=128 Y=192 K=64
"${PYTHON:-python3}" - "$tmp/cmyk.raw" <<'PY'
import sys
q = {(0, 0): (255, 0, 0, 0), (0, 1): (0, 255, 0, 0), (1, 0): (0, 0, 255, 128), (1, 1): (64, 128, 192, 64)}
with open(sys.argv[1], "wb") as f:
    f.write(b"".join(bytes(q[(y // 8, x // 8)]) for y in range(16) for x in range(16)))
PY
# Adobe CMYK JPEG (APP14 transform 0, values stored inverted) as Pillow writes it.
"${PYTHON:-python3}" -c "
from PIL import Image
Image.frombytes('CMYK', (16, 16), open('$tmp/cmyk.raw', 'rb').read()).save('cmyk.jpg', quality=100, subsampling=0)"
# Adobe YCCK JPEG (APP14 transform 2): what ImageMagick/libjpeg write for CMYK input.
convert -size 16x16 -depth 8 cmyk:"$tmp/cmyk.raw" -sampling-factor 1x1 -quality 100 ycck.jpg
# CMYK TIFF (Photometric = Separated, plain ink amounts, uncompressed).
convert -size 16x16 -depth 8 cmyk:"$tmp/cmyk.raw" -compress none cmyk.tif

# 24x16 RGB, six flat 8x8 blocks (rows top to bottom, columns left to right):
#   (230,30,30) (30,200,40) (40,60,220) / (240,220,30) (200,40,200) (30,210,220)
"${PYTHON:-python3}" - "$tmp/base.ppm" <<'PY'
import sys
cols = [[(230, 30, 30), (30, 200, 40), (40, 60, 220)], [(240, 220, 30), (200, 40, 200), (30, 210, 220)]]
with open(sys.argv[1], "wb") as f:
    f.write(b"P6 24 16 255\n" + b"".join(bytes(cols[y // 8][x // 8]) for y in range(16) for x in range(24)))
PY
convert "$tmp/base.ppm" -sampling-factor 1x1 -quality 100 "$tmp/base.jpg"
# An RGB JPEG (no YCbCr transform; Adobe APP14 transform 0), which libjpeg must not convert.
cjpeg -rgb -quality 100 -sample 1x1 "$tmp/base.ppm" > rgb.jpg
# The same JPEG data with EXIF orientation n; odd n little-endian EXIF (II), even n big-endian (MM).
for n in 1 2 3 4 5 6 7 8; do
  if [ $((n % 2)) = 1 ]; then order=II; else order=MM; fi
  rm -f orient-$n.jpg
  exiftool -q -n -Orientation=$n -ExifByteOrder=$order -o orient-$n.jpg "$tmp/base.jpg"
done

# Formats that are refused: real files, so the signatures are the ones encoders write.
convert "$tmp/base.ppm" -quality 90 webp.webp
convert "$tmp/base.ppm" heic.heic
convert "$tmp/base.ppm" avif.avif
