#!/usr/bin/env bash
# Builds target/native/libdino4j_kernels.so, dino4j's fused LayerNorm and bias+GELU kernels
# (src/main/native), against the libtensorflow_framework.so.2 inside TF Java's native jar in
# target/lib (run `make build` first). Needs a C++ compiler (g++ or c++); without one it says so
# and exits 0: training then uses TF's stock ops (train.kernels: auto), only slower.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/target/native"
cxx="${CXX:-}"
if [ -z "$cxx" ]; then
  for c in g++ c++ clang++; do
    if command -v "$c" >/dev/null; then cxx="$c"; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "build-kernels: no C++ compiler (g++, c++ or clang++); fused kernels not built, TF's stock ops will be used" >&2
  exit 0
fi
jar="$(ls "$root"/target/lib/tensorflow-core-native-*-linux-x86_64.jar 2>/dev/null | head -1 || true)"
if [ -z "$jar" ]; then
  echo "build-kernels: no TF Java native jar in target/lib; run 'make build' first" >&2
  exit 1
fi
mkdir -p "$out/tf"
# only to link against (the running JVM has its own copy loaded already; matched by soname)
member='org/tensorflow/internal/c_api/linux-x86_64/libtensorflow_framework.so.2'
if command -v unzip >/dev/null; then
  (cd "$out/tf" && unzip -o -j -q "$jar" "$member")
else
  (cd "$out/tf" && jar xf "$jar" "$member" && mv -f "$member" . && rm -rf org)
fi
# -fno-trapping-math: lets the compiler vectorise the clamps and the select in exp/erf (no
# FP exceptions are used). -march=native: the library is built on the machine that runs it (AVX-512 where there is one)
flags=(-std=c++17 -O3 -fno-trapping-math -fno-math-errno -fopenmp-simd -fPIC -shared -Wall -Wextra -Wno-unused-parameter)
if echo 'int main(){}' | "$cxx" -x c++ -march=native -o /dev/null - 2>/dev/null; then flags+=(-march=native); fi
tmp="$out/libdino4j_kernels.so.tmp"
"$cxx" "${flags[@]}" -I"$root/src/main/native" "$root/src/main/native/dino4j_kernels.cc" \
  -o "$tmp" -L"$out/tf" -l:libtensorflow_framework.so.2
mv "$tmp" "$out/libdino4j_kernels.so"
echo "build-kernels: $out/libdino4j_kernels.so ($cxx ${flags[*]})"
