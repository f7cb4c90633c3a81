"""Python side of ExportInteropTest: loads a dino4j SavedModel with TensorFlow for Python, calls
every signature on the inputs the Java test wrote (.npy files and image files), compares with the
Java outputs, replays the warm-up requests, and prints one JSON object with the results.

    python interop_check.py MODEL_VERSION_DIR WORK_DIR
"""
import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402
from tensorflow.core.framework import tensor_pb2  # noqa: E402,F401  (registers tensor.proto)


def prediction_log_class():
    """tensorflow_serving's PredictionLog, declared from its field numbers (no tensorflow-serving-api wheel here)."""
    f = descriptor_pb2.FileDescriptorProto(name="dino4j_check/prediction_log.proto", package="dino4jcheck",
                                           dependency=["tensorflow/core/framework/tensor.proto"], syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def msg(name, fields, nested=()):
        m = f.message_type.add(name=name)
        for n in nested:
            m.nested_type.add().CopyFrom(n)
        for fname, number, ftype, type_name, label in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                fd.type_name = type_name
        return m

    opt = T.LABEL_OPTIONAL
    msg("ModelSpec", [("name", 1, T.TYPE_STRING, None, opt), ("signature_name", 3, T.TYPE_STRING, None, opt)])
    entry = descriptor_pb2.DescriptorProto(name="InputsEntry")
    entry.field.add(name="key", number=1, type=T.TYPE_STRING, label=opt)
    entry.field.add(name="value", number=2, type=T.TYPE_MESSAGE, type_name=".tensorflow.TensorProto", label=opt)
    entry.options.map_entry = True
    msg("PredictRequest", [("model_spec", 1, T.TYPE_MESSAGE, ".dino4jcheck.ModelSpec", opt),
                           ("inputs", 2, T.TYPE_MESSAGE, ".dino4jcheck.PredictRequest.InputsEntry", T.LABEL_REPEATED)],
        nested=[entry])
    msg("PredictLog", [("request", 1, T.TYPE_MESSAGE, ".dino4jcheck.PredictRequest", opt)])
    msg("PredictionLog", [("predict_log", 6, T.TYPE_MESSAGE, ".dino4jcheck.PredictLog", opt)])
    pool = descriptor_pool.Default()
    pool.Add(f)
    desc = pool.FindMessageTypeByName("dino4jcheck.PredictionLog")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def max_diff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return "shape %s != %s" % (a.shape, b.shape)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def main(model_dir, work):
    model = tf.saved_model.load(model_dir)
    sigs = model.signatures
    out = {"signatures": sorted(sigs.keys()), "diffs": {}, "shapes": {}}
    for case in ("a", "b"):
        images = tf.constant(np.load(os.path.join(work, "images_%s.npy" % case)))
        got = {
            "embedding": sigs["serving_default"](images=images)["embedding"],
            "patch_tokens": sigs["patch_tokens"](images=images)["patch_tokens"],
            "attention": sigs["attention"](images=images)["attention"],
        }
        for name, value in got.items():
            expected = np.load(os.path.join(work, "java_%s_%s.npy" % (case, name)))
            out["diffs"]["%s_%s" % (case, name)] = max_diff(expected, value.numpy())
            out["shapes"]["%s_%s" % (case, name)] = list(value.shape)
    files = ["picture.png", "picture.jpg"]
    encoded = tf.constant([open(os.path.join(work, f), "rb").read() for f in files])
    emb = sigs["image_bytes"](image_bytes=encoded)["embedding"].numpy()
    for i, f in enumerate(files):
        expected = np.load(os.path.join(work, "java_%s_embedding.npy" % f.split(".")[1]))
        out["diffs"]["image_bytes_" + f.split(".")[1]] = max_diff(expected[0], emb[i])
    # warm-up requests: CRCs checked by TFRecordDataset, protos parsed, each request runs
    PredictionLog = prediction_log_class()
    warm = os.path.join(model_dir, "assets.extra", "tf_serving_warmup_requests")
    out["warmup"] = []
    for record in tf.data.TFRecordDataset(warm):
        log = PredictionLog.FromString(record.numpy())
        req = log.predict_log.request
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in req.inputs.items()}
        result = sigs[req.model_spec.signature_name](**inputs)
        out["warmup"].append({"model": req.model_spec.name, "signature": req.model_spec.signature_name,
                              "inputs": {k: list(v.shape) for k, v in inputs.items()},
                              "outputs": {k: list(v.shape) for k, v in result.items()}})
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
