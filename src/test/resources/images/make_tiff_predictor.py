"""TIFF fixtures of ImageDecoderTest that Java's TIFF writer cannot make: 8- and 16-bit gray, RGB and
RGBA, LZW or Deflate, with and without the horizontal predictor (Predictor 2), both byte orders,
written by hand (the LZW encoder below), plus a float TIFF with Predictor 3 written by Pillow.
Every file is checked to decode in Pillow to the samples of pixels() (16-bit RGB(A): Pillow keeps
the high byte, so that is what is compared); ImageDecoderTest computes the same pixels() in Java.
Run: python3 make_tiff_predictor.py .   (needs numpy and Pillow; made with Pillow 12.3.0, numpy 2.4.6)"""
import struct, sys, zlib
import numpy as np
from PIL import Image

def lzw_encode(data: bytes) -> bytes:
    """TIFF LZW as libtiff writes it: MSB-first codes, ClearCode 256, EOI 257, the code width one
    step early (the decoder lags one entry behind), a new table before code 4094."""
    out = bytearray(); bitbuf = 0; nbits = 0
    def emit(code, width):
        nonlocal bitbuf, nbits
        bitbuf = (bitbuf << width) | code; nbits += width
        while nbits >= 8:
            nbits -= 8; out.append((bitbuf >> nbits) & 0xFF)
        bitbuf &= (1 << nbits) - 1
    def fresh():
        return {bytes([i]): i for i in range(256)}
    table = fresh(); nxt = 258; width = 9
    emit(256, width)
    w = b""
    for c in data:
        wc = w + bytes([c])
        if wc in table:
            w = wc; continue
        emit(table[w], width)
        table[wc] = nxt; nxt += 1
        if nxt == 4094:
            emit(256, width); table = fresh(); nxt = 258; width = 9
        elif nxt >= (1 << width):
            width += 1
        w = bytes([c])
    if w:
        emit(table[w], width)
        nxt += 1
        if nxt >= (1 << width) and width < 12:
            width += 1
    emit(257, width)
    if nbits: out.append((bitbuf << (8 - nbits)) & 0xFF)
    return bytes(out)

def pixels(h, w, spp, bits):
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(spp), indexing="ij")
    if bits == 8:
        return ((x * 37 + y * 11 + c * 85 + (x * y) % 7) % 256).astype(np.uint8)
    return ((x * 4099 + y * 977 + c * 21845 + (x * y * 31) % 257) % 65536).astype(np.uint16)

def write(path, h, w, spp, bits, predictor, compression, order, rows_per_strip=None):
    px = pixels(h, w, spp, bits)
    e = "<" if order == "II" else ">"
    arr = px.astype(px.dtype.newbyteorder(e))
    rows_per_strip = rows_per_strip or h
    strips = []
    for r0 in range(0, h, rows_per_strip):
        block = px[r0:r0 + rows_per_strip].astype(np.int64)
        if predictor == 2:
            d = block.copy()
            d[:, 1:, :] = (block[:, 1:, :] - block[:, :-1, :]) % (1 << bits)
            block = d
        raw = block.astype(px.dtype).astype(px.dtype.newbyteorder(e)).tobytes()
        if compression == 5: raw = lzw_encode(raw)
        elif compression == 8: raw = zlib.compress(raw)
        strips.append(raw)
    entries = []
    def tag(t, typ, vals):
        entries.append((t, typ, vals))
    tag(256, 3, [w]); tag(257, 3, [h]); tag(258, 3, [bits] * spp); tag(259, 3, [compression])
    tag(262, 3, [2 if spp >= 3 else 1])
    tag(273, 4, [0] * len(strips))  # patched
    tag(277, 3, [spp]); tag(278, 3, [rows_per_strip]); tag(279, 4, [len(s) for s in strips])
    tag(284, 3, [1])
    if predictor != 1: tag(317, 3, [predictor])
    if spp == 4: tag(338, 3, [2])  # unassociated alpha
    entries.sort()
    header = (b"II" if order == "II" else b"MM") + struct.pack(e + "HI", 42, 8)
    n = len(entries)
    ifd_size = 2 + n * 12 + 4
    extra_off = 8 + ifd_size
    extra = b""; data_off = None
    # place arrays > 4 bytes after the IFD, then strips
    def size(typ): return {3: 2, 4: 4}[typ]
    layout = []
    for t, typ, vals in entries:
        if len(vals) * size(typ) > 4:
            layout.append((t, typ, vals, extra_off + len(extra)))
            extra += b"\0" * (len(vals) * size(typ))
            if len(extra) % 2: extra += b"\0"
        else:
            layout.append((t, typ, vals, None))
    strip_base = extra_off + len(extra)
    offs = []; pos = strip_base
    for s in strips: offs.append(pos); pos += len(s)
    ifd = struct.pack(e + "H", n); extra = bytearray(extra)
    for t, typ, vals, off in layout:
        if t == 273: vals = offs
        fmt = e + ("H" if typ == 3 else "I") * len(vals)
        packed = struct.pack(fmt, *vals)
        if off is None:
            ifd += struct.pack(e + "HHI", t, typ, len(vals)) + packed.ljust(4, b"\0")
        else:
            ifd += struct.pack(e + "HHII", t, typ, len(vals), off)
            extra[off - extra_off:off - extra_off + len(packed)] = packed
    ifd += struct.pack(e + "I", 0)
    data = header + ifd + bytes(extra) + b"".join(strips)
    open(path, "wb").write(data)
    # Pillow must read it, to the same samples (16-bit RGB: Pillow keeps the high byte)
    im = Image.open(path); im.load()
    got = np.array(im)
    if bits == 16 and spp >= 3:
        want = (px >> 8).astype(np.uint8)
    else:
        want = px if spp > 1 else px[:, :, 0]
    assert got.shape == want.shape, (path, im.mode, got.shape, want.shape)
    assert (got.astype(np.int64) == want.astype(np.int64)).all(), (path, im.mode)
    return im.mode

FIXTURES = [  # name, samples per pixel, bits, predictor, compression (5 LZW, 8 Deflate), byte order
    ("tiff16-gray-lzw-pred2-II.tif", 1, 16, 2, 5, "II"),
    ("tiff16-rgb-lzw-pred2-MM.tif", 3, 16, 2, 5, "MM"),
    ("tiff16-rgba-deflate-pred2-II.tif", 4, 16, 2, 8, "II"),
    ("tiff16-rgb-lzw-pred1-II.tif", 3, 16, 1, 5, "II"),
    ("tiff8-gray-lzw-pred2-MM.tif", 1, 8, 2, 5, "MM"),
    ("tiff8-rgb-deflate-pred2-II.tif", 3, 8, 2, 8, "II"),
]

if __name__ == "__main__":
    out = sys.argv[1]
    for name, spp, bits, pred, comp, order in FIXTURES:
        # 23 rows x 37 columns in strips of 8 rows: LZW codes grow past 9 and 10 bits
        print(name, write(f"{out}/{name}", 23, 37, spp, bits, pred, comp, order, rows_per_strip=8))
    # 32-bit float samples with the floating-point predictor: Pillow reads it (mode F), dino4j refuses it
    a = (np.arange(35, dtype=np.float32).reshape(5, 7) / 35)
    Image.fromarray(a, "F").save(f"{out}/tiff-float-pred3.tif", compression="tiff_adobe_deflate", tiffinfo={317: 3})
    f = Image.open(f"{out}/tiff-float-pred3.tif")
    assert f.mode == "F" and f.tag_v2[317] == 3 and (np.array(f) == a).all()
    print("tiff-float-pred3.tif F; convert('RGB') gives", sorted(set(np.array(f.convert("RGB")).ravel().tolist())))
