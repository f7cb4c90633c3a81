#!/usr/bin/env python3
"""Weighted k-NN evaluation of a dino4j SavedModel, with the DINO protocol.

Loads the SavedModel with tf.saved_model.load (no dino4j code needed), embeds a labelled train and
test set through its signatures, and reports top-1 / top-5 accuracy of the weighted k-NN
classifier of the reference eval_knn.py (Caron et al. 2021): features L2-normalised, cosine
similarity, the k most similar training images vote for their class with weight exp(sim / T),
T = 0.07, for k in 10, 20, 100, 200.

Datasets:
  * a folder of class subfolders (root/cat/1.jpg, root/dog/2.png), labels = sorted subfolder
    index, as torchvision's ImageFolder. The encoded files go through the model's `image_bytes`
    signature: decoded and resized to the training resolution inside the graph, exactly as the
    Java pipeline does (or, with --signature serving_default, decoded and resized here with the
    same TensorFlow ops);
  * MNIST-style IDX files (train-images-idx3-ubyte[.gz] + the matching labels file), e.g. MNIST or
    Fashion-MNIST: grey images become RGB, resized to the training resolution with TF's
    antialiased bicubic (Pillow's bicubic), through `serving_default`.

Examples:
  python src/python/eval_knn.py savedmodels/fmnist-tiny --idx-dir /usr/share/datasets/fashion-mnist
  python src/python/eval_knn.py savedmodels/mymodel/3 --train data/train --test data/val --json
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="SavedModel version folder (savedmodels/NAME/3), or the model folder "
                   "(savedmodels/NAME: its highest version is used)")
    p.add_argument("--train", help="training set: a folder of class subfolders, or an IDX images file")
    p.add_argument("--test", help="test set, same kinds as --train")
    p.add_argument("--idx-dir", help="folder with MNIST-style IDX files: train-images-idx3-ubyte[.gz], "
                   "t10k-images-idx3-ubyte[.gz] and their labels (shorthand for --train/--test)")
    p.add_argument("--k", type=int, nargs="+", default=[10, 20, 100, 200],
                   help="neighbour counts (DINO reports 10, 20, 100, 200; 20 is its headline number)")
    p.add_argument("--temperature", type=float, default=0.07,
                   help="vote weight exp(similarity / T); DINO's T = 0.07")
    p.add_argument("--batch-size", type=int, default=128, help="images per signature call")
    p.add_argument("--signature", choices=["auto", "image_bytes", "serving_default"], default="auto",
                   help="auto: image_bytes for folders (decoding in the graph), serving_default for IDX")
    p.add_argument("--limit-train", type=int, default=0, help="use only the first N training images (0 = all)")
    p.add_argument("--limit-test", type=int, default=0, help="use only the first N test images (0 = all)")
    p.add_argument("--json", action="store_true", help="also print one JSON line with every number")
    args = p.parse_args(argv)
    if args.idx_dir:
        args.train = args.train or find_idx(args.idx_dir, "train")
        args.test = args.test or find_idx(args.idx_dir, "t10k")
    if not args.train or not args.test:
        p.error("give --train and --test, or --idx-dir")
    if args.temperature <= 0:
        p.error("--temperature must be > 0, got %s" % args.temperature)
    if any(k < 1 for k in args.k):
        p.error("--k values must be >= 1, got %s" % args.k)
    return args


# ---- model ----

def resolve_model(path):
    """A version folder, or the highest numeric version inside a model folder."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = [d for d in os.listdir(path) if d.isdigit() and os.path.isfile(os.path.join(path, d, "saved_model.pb"))] \
        if os.path.isdir(path) else []
    if not versions:
        sys.exit("eval_knn: %s holds no SavedModel (expected saved_model.pb, or numeric version folders)" % path)
    return os.path.join(path, max(versions, key=int))


def load_metadata(version_dir):
    meta = os.path.join(version_dir, "assets.extra", "dino4j.json")
    if not os.path.isfile(meta):
        sys.exit("eval_knn: %s is missing; is this a dino4j export?" % meta)
    with open(meta) as f:
        return json.load(f)


# ---- datasets ----

def find_idx(folder, split):
    for name in ("%s-images-idx3-ubyte.gz" % split, "%s-images-idx3-ubyte" % split):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    sys.exit("eval_knn: no %s-images-idx3-ubyte[.gz] in %s" % (split, folder))


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:
        sys.exit("eval_knn: %s is not an unsigned-byte IDX file (magic %08x)" % (path, magic))
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_dataset(path, limit):
    """('idx', uint8 [N, h, w], labels) or ('folder', [file paths], labels)."""
    if os.path.isdir(path):
        classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
        if not classes:
            sys.exit("eval_knn: %s has no class subfolders (expected root/<class>/<image>)" % path)
        files, labels = [], []
        for label, c in enumerate(classes):
            for root, _, names in sorted(os.walk(os.path.join(path, c))):
                for n in sorted(names):
                    if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith("."):
                        files.append(os.path.join(root, n))
                        labels.append(label)
        if not files:
            sys.exit("eval_knn: no images (%s) under %s" % (", ".join(IMAGE_EXTENSIONS), path))
        if limit:
            files, labels = files[:limit], labels[:limit]
        return "folder", files, np.asarray(labels, dtype=np.int64)
    if os.path.isfile(path):
        images = read_idx(path)
        label_path = path.replace("images-idx3", "labels-idx1")
        if label_path == path or not os.path.isfile(label_path):
            sys.exit("eval_knn: no labels file next to %s (expected %s)" % (path, label_path))
        labels = read_idx(label_path).astype(np.int64)
        if limit:
            images, labels = images[:limit], labels[:limit]
        return "idx", images, labels
    sys.exit("eval_knn: %s does not exist (expected a folder of class subfolders or an IDX images file)" % path)


def resize(rgb01, size):
    """[N, h, w, 3] in [0, 1] -> [N, size, size, 3]: antialiased Keys cubic (Pillow's bicubic), clipped."""
    return tf.clip_by_value(tf.image.resize(rgb01, [size, size], method="bicubic", antialias=True), 0.0, 1.0)


def embed(model, kind, data, size, signature, batch_size):
    fn_bytes = model.signatures["image_bytes"]
    fn_images = model.signatures["serving_default"]
    out = []
    for start in range(0, len(data), batch_size):
        chunk = data[start:start + batch_size]
        if kind == "folder" and signature == "image_bytes":
            encoded = tf.constant([tf.io.read_file(f).numpy() for f in chunk])
            out.append(fn_bytes(image_bytes=encoded)["embedding"].numpy())
            continue
        if kind == "folder":
            imgs = [tf.io.decode_image(tf.io.read_file(f), channels=3, expand_animations=False) for f in chunk]
            rgb = tf.stack([resize(tf.cast(i, tf.float32)[None] / 255.0, size)[0] for i in imgs])
        else:
            grey = tf.cast(tf.constant(np.asarray(chunk)), tf.float32)[..., None] / 255.0
            rgb = resize(tf.tile(grey, [1, 1, 1, 3]), size)
        out.append(fn_images(images=rgb)["embedding"].numpy())
    return np.concatenate(out, 0)


# ---- k-NN, the reference protocol ----

def knn(train_features, train_labels, test_features, test_labels, k, temperature, num_classes, chunk=256):
    """Top-1 / top-5 accuracy (%) of DINO's weighted k-NN; features already L2-normalised."""
    k = min(k, len(train_labels))
    top1 = top5 = 0
    for start in range(0, len(test_labels), chunk):
        feats = test_features[start:start + chunk]
        targets = test_labels[start:start + chunk]
        sim = feats @ train_features.T  # [b, n_train] cosine similarity
        idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        dist = np.take_along_axis(sim, idx, 1)  # [b, k]
        order = np.argsort(-dist, axis=1, kind="stable")
        idx, dist = np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)
        votes = np.zeros((len(targets), num_classes), dtype=np.float64)
        weights = np.exp(dist.astype(np.float64) / temperature)
        np.add.at(votes, (np.arange(len(targets))[:, None], train_labels[idx]), weights)
        ranked = np.argsort(-votes, axis=1, kind="stable")
        top1 += int(np.sum(ranked[:, 0] == targets))
        top5 += int(np.sum(np.any(ranked[:, :min(5, k)] == targets[:, None], axis=1)))
    n = len(test_labels)
    return 100.0 * top1 / n, 100.0 * top5 / n


def l2_normalise(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def main(argv=None):
    args = parse_args(argv)
    version_dir = resolve_model(args.model)
    meta = load_metadata(version_dir)
    size = int(meta["image_size"])
    model = tf.saved_model.load(version_dir)
    t0 = time.time()
    results = {"model": version_dir, "network": meta.get("network"), "training_step": meta.get("training_step"),
               "temperature": args.temperature, "knn": {}}
    feats, labels = {}, {}
    for split, path, limit in (("train", args.train, args.limit_train), ("test", args.test, args.limit_test)):
        kind, data, y = load_dataset(path, limit)
        signature = args.signature if args.signature != "auto" else ("image_bytes" if kind == "folder" else "serving_default")
        feats[split] = l2_normalise(embed(model, kind, data, size, signature, args.batch_size))
        labels[split] = y
        results["n_" + split] = int(len(y))
    embed_seconds = time.time() - t0
    num_classes = int(max(labels["train"].max(), labels["test"].max()) + 1)
    print("model %s (%s, step %s), %d train / %d test images, %d classes, T = %g, embedded in %.1f s"
          % (version_dir, meta.get("network"), meta.get("training_step"), results["n_train"], results["n_test"],
             num_classes, args.temperature, embed_seconds))
    for k in args.k:
        top1, top5 = knn(feats["train"], labels["train"], feats["test"], labels["test"], k, args.temperature, num_classes)
        results["knn"][str(k)] = {"top1": top1, "top5": top5}
        print("%4d-NN  top-1 %6.2f%%  top-5 %6.2f%%" % (k, top1, top5))
    results["embed_seconds"] = embed_seconds
    if args.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
