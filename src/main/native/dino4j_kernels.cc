// Fused CPU kernels for the ViT block, loaded into TF Java with TensorFlow.loadLibrary
// (dev.dino4j.model.FusedKernels). TF has no LayerNorm op and computes exact GELU as several
// elementwise ops, each a pass over the big activations, forward and backward; with AMX making
// the matmuls cheap those passes are most of a bf16 step. Each op here is one pass (two for the
// LayerNorm forward's statistics), for float and bfloat16 tensors (statistics and arithmetic in
// float). A kernel runs on the calling thread: the training graph uses them when every op already
// runs single-threaded (towers), which is the layout they are written for.
//
//   Dino4jLayerNorm(x: T) -> y: T, rstd: float       y = (x - mean) * rstd over the last axis,
//                                                     rstd = 1 / sqrt(biased var + eps)
//   Dino4jLayerNormGrad(dy: T, y: T, rstd: float) -> dx: T
//                                                     dx = rstd (dy - mean(dy) - y mean(dy y))
//   Dino4jBiasGelu(z: T, b: T) -> y: T                u = z + b, y = u (1 + erf(u))
//                                                     (= sqrt 2 GELU(sqrt 2 u): the graph folds
//                                                     the two 1/sqrt 2 into the weights)
//   Dino4jBiasGeluGrad(dy: T, z: T, b: T) -> dz: T, db: T
//                                                     dz = dy (1 + erf(u) + u 2/sqrt(pi) e^-u^2),
//                                                     db = sum of dz over rows
//   Dino4jBiasScaleResidual(x: T, z: T, b: T, s: float) -> y: T
//                                                     y = x + (z + b) s[sample]: a residual branch's
//                                                     bias, drop-path scale and add (s has one value
//                                                     per sample of rows / len(s) rows)
//   Dino4jBiasScaleResidualGrad(dy: T, s: float) -> dz: T, db: T
//                                                     dz = dy s[sample], db = sum of dz over rows
//   Dino4jQkvHeads(z: T, b: T) -> q: T, k: T, v: T   z [B, N, 3, H, hd] (the qkv matmul's output), b
//                                                     [3 H hd]: (z + b) split into q, k, v, each
//                                                     [B, H, N, hd] (bias add, transpose and split)
//   Dino4jQkvHeadsGrad(dq: T, dk: T, dv: T) -> dz: T, db: T
//                                                     the inverse layout, db = sum of dz over B, N
//   Dino4jSoftmaxHook(y: T, x: T) -> y                passes y through; carries the gradient of
//                                                     y = softmax(x), Dino4jSoftmaxGrad
//   Dino4jSoftmaxGrad(dy: T, y: T) -> dx: T           dx = y (dy - sum(dy y)) over the last axis
//   Dino4jBatchMatMulHook(y: T, a: T, b: T) -> y      passes y through; carries the gradient of
//                                                     y = a b (Java builds it from oneDNN matmuls)
//   Dino4jAdamW(w, m, v, g: float, h: float[9]) -> w, m, v
//                                                     one AdamW step of one parameter tensor,
//                                                     gradient clipping included (dev.dino4j.train.AdamW)
//   Dino4jEma(teacher, student: float, momentum: float) -> teacher
//                                                     teacher m + student (1 - m)
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tf_kernel_api.h"

namespace {

// ---- element access: float, or bfloat16 as its 16 high bits (round to nearest even on store) ----

using Bf16 = uint16_t;  // a bfloat16 is the high half of a float's bits

inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const Bf16* p, int64_t i) {
  uint32_t u = static_cast<uint32_t>(p[i]) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline void store(float* p, int64_t i, float v) { p[i] = v; }
inline void store(Bf16* p, int64_t i, float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  p[i] = static_cast<uint16_t>(u >> 16);
}

template <typename T>
constexpr TF_DataType dtype();
template <>
constexpr TF_DataType dtype<float>() { return TF_FLOAT; }
template <>
constexpr TF_DataType dtype<Bf16>() { return TF_BFLOAT16; }

// ---- branch-free exp and erf, so that the loops vectorise ----

// e^x for x in [-87, 88] (clamped): x = n ln2 + r, |r| <= ln2 / 2, e^r by its degree-7 Taylor
// polynomial (relative error < 2e-8 there), 2^n put into the exponent bits.
inline float expClamped(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;  // ln2 in two parts
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// erf(x) given g = e^(-x^2), by Abramowitz & Stegun 7.1.26: erf(z) = 1 - t P(t) e^(-z^2) with
// t = 1 / (1 + p z), z = |x|, |error| <= 1.5e-7. Taking e^(-x^2) as an argument lets GELU's
// gradient, which needs it anyway, share one exp with the erf.
inline float erfFromGauss(float x, float g) {
  float z = std::fabs(x);
  float t = 1.0f / (1.0f + 0.3275911f * z);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  float e = 1.0f - t * p * g;
  return x < 0 ? -e : e;
}

constexpr float kTwoOverSqrtPi = 1.12837916709551257f;
constexpr float kLayerNormEps = 1e-6f;  // VisionTransformer.LN_EPS

// ---- helpers around the C API ----

// A kernel's inputs and the outputs it allocates, all released when it goes out of scope.
struct Inputs {
  TF_OpKernelContext* ctx;
  TF_Status* status;
  TF_Tensor* t[6] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  TF_Tensor* outs[4] = {nullptr, nullptr, nullptr, nullptr};
  int n = 0;

  Inputs(TF_OpKernelContext* c, int count) : ctx(c), status(TF_NewStatus()), n(count) {
    for (int i = 0; i < n && TF_GetCode(status) == TF_OK; i++) TF_GetInput(ctx, i, &t[i], status);
  }
  ~Inputs() {
    for (int i = 0; i < n; i++)
      if (t[i] != nullptr) TF_DeleteTensor(t[i]);
    for (TF_Tensor* o : outs)
      if (o != nullptr) TF_DeleteTensor(o);
    TF_DeleteStatus(status);
  }
  bool ok() const { return TF_GetCode(status) == TF_OK; }
  // Reports msg as the op's InvalidArgument error; returns false for `return fail(...)`.
  bool fail(const char* msg) {
    TF_SetStatus(status, TF_INVALID_ARGUMENT, msg);
    TF_OpKernelContext_Failure(ctx, status);
    return false;
  }
  // The shape of input i, rank at most 8.
  int shape(int i, int64_t* dims) const {
    int nd = TF_NumDims(t[i]);
    for (int k = 0; k < nd && k < 8; k++) dims[k] = TF_Dim(t[i], k);
    return nd;
  }
  // Output i of the given shape; nullptr (and the op failed) when TF cannot allocate it.
  TF_Tensor* allocate(int i, TF_DataType type, const int64_t* dims, int nd) {
    int64_t count = 1;
    for (int k = 0; k < nd; k++) count *= dims[k];
    size_t bytes = static_cast<size_t>(count) * (type == TF_FLOAT ? 4 : 2);
    return keep(i, TF_AllocateOutput(ctx, i, type, dims, nd, bytes, status));
  }
  // Output i shaped like input `like`, reusing one of the candidate inputs' buffers when TF can.
  TF_Tensor* output(int i, TF_DataType type, int like, const int* reuse, int nreuse) {
    int64_t dims[8];
    int nd = shape(like, dims);
    if (nd > 8) {
      fail("dino4j kernels: rank above 8");
      return nullptr;
    }
    if (nreuse == 0) return allocate(i, type, dims, nd);
    int forwarded = -1;
    return keep(i, TF_ForwardInputOrAllocateOutput(ctx, reuse, nreuse, i, dims, nd, &forwarded, status));
  }

 private:
  TF_Tensor* keep(int i, TF_Tensor* out) {
    if (TF_GetCode(status) != TF_OK) {
      TF_OpKernelContext_Failure(ctx, status);
      if (out != nullptr) TF_DeleteTensor(out);
      return nullptr;
    }
    outs[i] = out;
    return out;
  }
};

// Rows and row length of a tensor normalised over its last axis.
bool rowsOf(Inputs& in, int i, int64_t* rows, int64_t* d) {
  int nd = TF_NumDims(in.t[i]);
  if (nd < 1) return in.fail("dino4j kernels: expected a tensor of rank >= 1");
  *d = TF_Dim(in.t[i], nd - 1);
  *rows = *d == 0 ? 0 : TF_TensorElementCount(in.t[i]) / *d;
  return true;
}

// ---- LayerNorm ----

template <typename T>
void layerNorm(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 1);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t rows, d;
  if (!rowsOf(in, 0, &rows, &d)) return;
  TF_Tensor* yt = in.output(0, dtype<T>(), 0, nullptr, 0);
  if (yt == nullptr) return;
  int64_t dims[8];
  int nd = in.shape(0, dims);
  TF_Tensor* rt = in.allocate(1, TF_FLOAT, dims, nd - 1);
  if (rt == nullptr) return;
  const T* x = static_cast<const T*>(TF_TensorData(in.t[0]));
  T* y = static_cast<T*>(TF_TensorData(yt));
  float* rstd = static_cast<float*>(TF_TensorData(rt));
  float invD = 1.0f / static_cast<float>(d);
  for (int64_t r = 0; r < rows; r++) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < d; j++) sum += load(xr, j);
    float mean = sum * invD;
    float sq = 0;
#pragma omp simd reduction(+ : sq)
    for (int64_t j = 0; j < d; j++) {
      float c = load(xr, j) - mean;
      sq += c * c;
    }
    float rs = 1.0f / std::sqrt(sq * invD + kLayerNormEps);
    rstd[r] = rs;
#pragma omp simd
    for (int64_t j = 0; j < d; j++) store(yr, j, (load(xr, j) - mean) * rs);
  }
}

template <typename T>
void layerNormGrad(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 3);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t rows, d;
  if (!rowsOf(in, 0, &rows, &d)) return;
  if (TF_TensorElementCount(in.t[1]) != rows * d || TF_TensorElementCount(in.t[2]) != rows) {
    in.fail("Dino4jLayerNormGrad: dy and y must have the same shape and rstd one value per row");
    return;
  }
  const int reuse[] = {0};
  TF_Tensor* dxt = in.output(0, dtype<T>(), 0, reuse, 1);
  if (dxt == nullptr) return;
  const T* dy = static_cast<const T*>(TF_TensorData(in.t[0]));
  const T* y = static_cast<const T*>(TF_TensorData(in.t[1]));
  const float* rstd = static_cast<const float*>(TF_TensorData(in.t[2]));
  T* dx = static_cast<T*>(TF_TensorData(dxt));  // may alias dy: each row is read before written
  float invD = 1.0f / static_cast<float>(d);
  for (int64_t r = 0; r < rows; r++) {
    const T* dyr = dy + r * d;
    const T* yr = y + r * d;
    T* dxr = dx + r * d;
    float sdy = 0, sdyy = 0;
#pragma omp simd reduction(+ : sdy, sdyy)
    for (int64_t j = 0; j < d; j++) {
      float g = load(dyr, j);
      sdy += g;
      sdyy += g * load(yr, j);
    }
    float mdy = sdy * invD, mdyy = sdyy * invD, rs = rstd[r];
#pragma omp simd
    for (int64_t j = 0; j < d; j++)
      store(dxr, j, rs * (load(dyr, j) - mdy - load(yr, j) * mdyy));
  }
}

// ---- bias + GELU ----

bool checkBias(Inputs& in, int zi, int bi, int64_t* rows, int64_t* n) {
  if (!rowsOf(in, zi, rows, n)) return false;
  if (TF_NumDims(in.t[bi]) != 1 || TF_Dim(in.t[bi], 0) != *n)
    return in.fail("Dino4jBiasGelu: the bias must be a vector as long as z's last axis");
  return true;
}

template <typename T>
void biasGelu(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 2);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t rows, n;
  if (!checkBias(in, 0, 1, &rows, &n)) return;
  const int reuse[] = {0};
  TF_Tensor* yt = in.output(0, dtype<T>(), 0, reuse, 1);
  if (yt == nullptr) return;
  const T* z = static_cast<const T*>(TF_TensorData(in.t[0]));
  const T* b = static_cast<const T*>(TF_TensorData(in.t[1]));
  T* y = static_cast<T*>(TF_TensorData(yt));
  std::vector<float> biasv(n);
  float* bias = biasv.data();
  for (int64_t j = 0; j < n; j++) bias[j] = load(b, j);
  for (int64_t r = 0; r < rows; r++) {
    const T* zr = z + r * n;
    T* yr = y + r * n;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) {
      float u = load(zr, j) + bias[j];
      store(yr, j, u + u * erfFromGauss(u, expClamped(-u * u)));
    }
  }
}

template <typename T>
void biasGeluGrad(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 3);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t rows, n;
  if (!checkBias(in, 1, 2, &rows, &n)) return;
  if (TF_TensorElementCount(in.t[0]) != rows * n) {
    in.fail("Dino4jBiasGeluGrad: dy and z must have the same shape");
    return;
  }
  const int reuse[] = {0};
  TF_Tensor* dzt = in.output(0, dtype<T>(), 1, reuse, 1);
  if (dzt == nullptr) return;
  int64_t bdims[1] = {n};
  TF_Tensor* dbt = in.allocate(1, dtype<T>(), bdims, 1);
  if (dbt == nullptr) return;
  const T* dy = static_cast<const T*>(TF_TensorData(in.t[0]));
  const T* z = static_cast<const T*>(TF_TensorData(in.t[1]));
  const T* b = static_cast<const T*>(TF_TensorData(in.t[2]));
  T* dz = static_cast<T*>(TF_TensorData(dzt));  // may alias dy: read before written
  T* db = static_cast<T*>(TF_TensorData(dbt));
  std::vector<float> biasv(n), accv(n);
  float* bias = biasv.data();
  float* acc = accv.data();
  for (int64_t j = 0; j < n; j++) {
    bias[j] = load(b, j);
    acc[j] = 0;
  }
  for (int64_t r = 0; r < rows; r++) {
    const T* dyr = dy + r * n;
    const T* zr = z + r * n;
    T* dzr = dz + r * n;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) {
      float u = load(zr, j) + bias[j];
      float gauss = expClamped(-u * u);
      float slope = 1.0f + erfFromGauss(u, gauss) + u * kTwoOverSqrtPi * gauss;
      float g = load(dyr, j) * slope;
      store(dzr, j, g);
      acc[j] += g;
    }
  }
  for (int64_t j = 0; j < n; j++) store(db, j, acc[j]);
}

// ---- the softmax gradient (attention weights) ----

// dx = y (dy - sum(dy y)) over the last axis in one pass, where TF's gradient of Softmax is four
// ops (Mul, Sum, Sub, Mul), slow in bf16. The forward stays TF's oneDNN Softmax, which is faster
// than a plain loop with this file's exp: Dino4jSoftmaxHook carries this gradient.

template <typename T>
void softmaxGrad(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 2);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t rows, n;
  if (!rowsOf(in, 0, &rows, &n)) return;
  if (TF_TensorElementCount(in.t[1]) != rows * n) {
    in.fail("Dino4jSoftmaxGrad: dy and y must have the same shape");
    return;
  }
  const int reuse[] = {0};
  TF_Tensor* dxt = in.output(0, dtype<T>(), 0, reuse, 1);
  if (dxt == nullptr) return;
  const T* dy = static_cast<const T*>(TF_TensorData(in.t[0]));
  const T* y = static_cast<const T*>(TF_TensorData(in.t[1]));
  T* dx = static_cast<T*>(TF_TensorData(dxt));  // may alias dy: each row is read before written
  for (int64_t r = 0; r < rows; r++) {
    const T* dyr = dy + r * n;
    const T* yr = y + r * n;
    T* dxr = dx + r * n;
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < n; j++) dot += load(dyr, j) * load(yr, j);
#pragma omp simd
    for (int64_t j = 0; j < n; j++) store(dxr, j, load(yr, j) * (load(dyr, j) - dot));
  }
}

// ---- bias + per-sample scale + residual ----

// Shared checks: x and z (or dy) of equal size with last axis D, s one float per sample (a
// sample = rows / len(s) consecutive rows); b, when given, D long.
bool residualDims(Inputs& in, int xi, int si, int bi, int64_t* rows, int64_t* d, int64_t* per) {
  if (!rowsOf(in, xi, rows, d)) return false;
  int64_t ns = TF_TensorElementCount(in.t[si]);
  if (ns < 1 || *rows % ns != 0)
    return in.fail("Dino4jBiasScaleResidual: s must hold one value per sample, dividing the rows");
  *per = *rows / ns;
  if (bi >= 0 && (TF_NumDims(in.t[bi]) != 1 || TF_Dim(in.t[bi], 0) != *d))
    return in.fail("Dino4jBiasScaleResidual: the bias must be a vector as long as x's last axis");
  return true;
}

template <typename T>
void biasScaleResidual(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 4);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t rows, d, per;
  if (!residualDims(in, 0, 3, 2, &rows, &d, &per)) return;
  if (TF_TensorElementCount(in.t[1]) != rows * d) {
    in.fail("Dino4jBiasScaleResidual: x and z must have the same number of elements");
    return;
  }
  const int reuse[] = {0, 1};
  TF_Tensor* yt = in.output(0, dtype<T>(), 0, reuse, 2);
  if (yt == nullptr) return;
  const T* x = static_cast<const T*>(TF_TensorData(in.t[0]));
  const T* z = static_cast<const T*>(TF_TensorData(in.t[1]));
  const T* b = static_cast<const T*>(TF_TensorData(in.t[2]));
  const float* sc = static_cast<const float*>(TF_TensorData(in.t[3]));
  T* y = static_cast<T*>(TF_TensorData(yt));  // may alias x or z: element j read before written
  std::vector<float> biasv(d);
  float* bias = biasv.data();
  for (int64_t j = 0; j < d; j++) bias[j] = load(b, j);
  for (int64_t r = 0; r < rows; r++) {
    const T* xr = x + r * d;
    const T* zr = z + r * d;
    T* yr = y + r * d;
    float s = sc[r / per];
#pragma omp simd
    for (int64_t j = 0; j < d; j++) store(yr, j, load(xr, j) + (load(zr, j) + bias[j]) * s);
  }
}

template <typename T>
void biasScaleResidualGrad(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 2);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t rows, d, per;
  if (!residualDims(in, 0, 1, -1, &rows, &d, &per)) return;
  TF_Tensor* dzt = in.output(0, dtype<T>(), 0, nullptr, 0);
  if (dzt == nullptr) return;
  int64_t bdims[1] = {d};
  TF_Tensor* dbt = in.allocate(1, dtype<T>(), bdims, 1);
  if (dbt == nullptr) return;
  const T* dy = static_cast<const T*>(TF_TensorData(in.t[0]));
  const float* sc = static_cast<const float*>(TF_TensorData(in.t[1]));
  T* dz = static_cast<T*>(TF_TensorData(dzt));
  T* db = static_cast<T*>(TF_TensorData(dbt));
  std::vector<float> accv(d, 0.0f);
  float* acc = accv.data();
  for (int64_t r = 0; r < rows; r++) {
    const T* dyr = dy + r * d;
    T* dzr = dz + r * d;
    float s = sc[r / per];
#pragma omp simd
    for (int64_t j = 0; j < d; j++) {
      float g = load(dyr, j) * s;
      store(dzr, j, g);
      acc[j] += g;
    }
  }
  for (int64_t j = 0; j < d; j++) store(db, j, acc[j]);
}

// ---- qkv: bias + split into heads ----

template <typename T>
void qkvHeads(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 2);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t zd[8];
  if (TF_NumDims(in.t[0]) != 5 || in.shape(0, zd) != 5 || zd[2] != 3) {
    in.fail("Dino4jQkvHeads: z must be [B, N, 3, H, hd]");
    return;
  }
  int64_t nb = zd[0], n = zd[1], h = zd[3], hd = zd[4], c3 = 3 * h * hd;
  if (TF_NumDims(in.t[1]) != 1 || TF_Dim(in.t[1], 0) != c3) {
    in.fail("Dino4jQkvHeads: the bias must be a vector of 3 H hd values");
    return;
  }
  int64_t od[4] = {nb, h, n, hd};
  T* out[3];
  TF_Tensor* ot[3] = {nullptr, nullptr, nullptr};
  for (int i = 0; i < 3; i++) {
    ot[i] = in.allocate(i, dtype<T>(), od, 4);
    if (ot[i] == nullptr) return;
    out[i] = static_cast<T*>(TF_TensorData(ot[i]));
  }
  const T* z = static_cast<const T*>(TF_TensorData(in.t[0]));
  const T* b = static_cast<const T*>(TF_TensorData(in.t[1]));
  std::vector<float> biasv(c3);
  for (int64_t c = 0; c < c3; c++) biasv[c] = load(b, c);
  for (int64_t bi = 0; bi < nb; bi++) {
    for (int64_t t = 0; t < n; t++) {
      const T* zr = z + (bi * n + t) * c3;
      for (int64_t part = 0; part < 3; part++) {
        for (int64_t hh = 0; hh < h; hh++) {
          const T* src = zr + (part * h + hh) * hd;
          const float* bias = biasv.data() + (part * h + hh) * hd;
          T* dst = out[part] + ((bi * h + hh) * n + t) * hd;
#pragma omp simd
          for (int64_t e = 0; e < hd; e++) store(dst, e, load(src, e) + bias[e]);
        }
      }
    }
  }
}

template <typename T>
void qkvHeadsGrad(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 3);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t qd[8];
  if (TF_NumDims(in.t[0]) != 4 || in.shape(0, qd) != 4) {
    in.fail("Dino4jQkvHeadsGrad: dq, dk and dv must be [B, H, N, hd]");
    return;
  }
  int64_t nb = qd[0], h = qd[1], n = qd[2], hd = qd[3], c3 = 3 * h * hd;
  for (int i = 1; i < 3; i++) {
    if (TF_TensorElementCount(in.t[i]) != nb * h * n * hd) {
      in.fail("Dino4jQkvHeadsGrad: dq, dk and dv must have the same shape");
      return;
    }
  }
  int64_t zd[5] = {nb, n, 3, h, hd};
  TF_Tensor* dzt = in.allocate(0, dtype<T>(), zd, 5);
  if (dzt == nullptr) return;
  int64_t bd[1] = {c3};
  TF_Tensor* dbt = in.allocate(1, dtype<T>(), bd, 1);
  if (dbt == nullptr) return;
  const T* g[3];
  for (int i = 0; i < 3; i++) g[i] = static_cast<const T*>(TF_TensorData(in.t[i]));
  T* dz = static_cast<T*>(TF_TensorData(dzt));
  T* db = static_cast<T*>(TF_TensorData(dbt));
  std::vector<float> accv(c3, 0.0f);
  for (int64_t bi = 0; bi < nb; bi++) {
    for (int64_t t = 0; t < n; t++) {
      T* dzr = dz + (bi * n + t) * c3;
      for (int64_t part = 0; part < 3; part++) {
        for (int64_t hh = 0; hh < h; hh++) {
          const T* src = g[part] + ((bi * h + hh) * n + t) * hd;
          T* dst = dzr + (part * h + hh) * hd;
          float* acc = accv.data() + (part * h + hh) * hd;
#pragma omp simd
          for (int64_t e = 0; e < hd; e++) {
            float v = load(src, e);
            store(dst, e, v);
            acc[e] += v;
          }
        }
      }
    }
  }
  for (int64_t c = 0; c < c3; c++) store(db, c, accv[c]);
}

// ---- gradient hook ----

// Passes y through unchanged (no copy); the op exists for its gradient, registered from Java.
void gradientHook(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 1);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  TF_SetOutput(ctx, 0, in.t[0], in.status);
  if (!in.ok()) TF_OpKernelContext_Failure(ctx, in.status);
}

// ---- optimizer and teacher updates (float master weights) ----

// AdamW for one parameter tensor, the arithmetic of dev.dino4j.train.AdamW's graph in one pass:
// g <- g min(1, clip / (||g|| + 1e-6)) (clip > 0), m <- b1 m + (1 - b1) g,
// v <- b2 v + (1 - b2) g^2, w <- w decay - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).
void adamW(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 5);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t n = TF_TensorElementCount(in.t[0]);
  for (int i = 1; i < 4; i++) {
    if (TF_TensorElementCount(in.t[i]) != n) {
      in.fail("Dino4jAdamW: w, m, v and g must have the same number of values");
      return;
    }
  }
  if (TF_TensorElementCount(in.t[4]) != 9) {
    in.fail("Dino4jAdamW: h must hold 9 values (lr/bc1, sqrt bc2, decay, clip, b1, 1-b1, b2, 1-b2, eps)");
    return;
  }
  TF_Tensor* out[3];
  for (int i = 0; i < 3; i++) {
    const int reuse[] = {i};
    out[i] = in.output(i, TF_FLOAT, i, reuse, 1);
    if (out[i] == nullptr) return;
  }
  const float* w = static_cast<const float*>(TF_TensorData(in.t[0]));
  const float* m = static_cast<const float*>(TF_TensorData(in.t[1]));
  const float* v = static_cast<const float*>(TF_TensorData(in.t[2]));
  const float* g = static_cast<const float*>(TF_TensorData(in.t[3]));
  const float* h = static_cast<const float*>(TF_TensorData(in.t[4]));
  float* wo = static_cast<float*>(TF_TensorData(out[0]));  // each may alias its input: read first
  float* mo = static_cast<float*>(TF_TensorData(out[1]));
  float* vo = static_cast<float*>(TF_TensorData(out[2]));
  const float lrBc1 = h[0], sqrtBc2 = h[1], decay = h[2], clip = h[3];
  const float b1 = h[4], oneMinusB1 = h[5], b2 = h[6], oneMinusB2 = h[7], eps = h[8];
  float coef = 1.0f;
  if (clip > 0) {
    double squares = 0;
#pragma omp simd reduction(+ : squares)
    for (int64_t i = 0; i < n; i++) squares += static_cast<double>(g[i]) * g[i];
    float c = clip / (std::sqrt(static_cast<float>(squares)) + 1e-6f);
    coef = c < 1.0f ? c : 1.0f;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i] * coef;
    float mi = m[i] * b1 + gi * oneMinusB1;
    float vi = v[i] * b2 + (gi * gi) * oneMinusB2;
    wo[i] = w[i] * decay - lrBc1 * (mi / (std::sqrt(vi) / sqrtBc2 + eps));
    mo[i] = mi;
    vo[i] = vi;
  }
}

// The teacher's EMA for one parameter tensor: t <- t m + s (1 - m).
void ema(void*, TF_OpKernelContext* ctx) {
  Inputs in(ctx, 3);
  if (!in.ok()) return TF_OpKernelContext_Failure(ctx, in.status);
  int64_t n = TF_TensorElementCount(in.t[0]);
  if (TF_TensorElementCount(in.t[1]) != n || TF_TensorElementCount(in.t[2]) != 1) {
    in.fail("Dino4jEma: teacher and student must have the same number of values, momentum one");
    return;
  }
  const int reuse[] = {0};
  TF_Tensor* ot = in.output(0, TF_FLOAT, 0, reuse, 1);
  if (ot == nullptr) return;
  const float* t = static_cast<const float*>(TF_TensorData(in.t[0]));
  const float* st = static_cast<const float*>(TF_TensorData(in.t[1]));
  const float mom = *static_cast<const float*>(TF_TensorData(in.t[2]));
  const float oneMinus = 1.0f - mom;
  float* o = static_cast<float*>(TF_TensorData(ot));
#pragma omp simd
  for (int64_t i = 0; i < n; i++) o[i] = t[i] * mom + st[i] * oneMinus;
}

// ---- shapes and registration ----

void sameAsInput0(TF_ShapeInferenceContext* ctx, TF_Status* st) {
  TF_ShapeHandle* h = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, h, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, h, st);
  TF_DeleteShapeHandle(h);
}

void sameAsInputs012(TF_ShapeInferenceContext* ctx, TF_Status* st) {
  TF_ShapeHandle* h = TF_NewShapeHandle();
  for (int i = 0; i < 3 && TF_GetCode(st) == TF_OK; i++) {
    TF_ShapeInferenceContextGetInput(ctx, i, h, st);
    if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, i, h, st);
  }
  TF_DeleteShapeHandle(h);
}

void layerNormShape(TF_ShapeInferenceContext* ctx, TF_Status* st) {
  TF_ShapeHandle* h = TF_NewShapeHandle();
  TF_ShapeHandle* rows = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, h, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, h, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSubshape(ctx, h, 0, -1, rows, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 1, rows, st);
  TF_DeleteShapeHandle(rows);
  TF_DeleteShapeHandle(h);
}

void biasGeluGradShape(TF_ShapeInferenceContext* ctx, TF_Status* st) {
  TF_ShapeHandle* h = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 1, h, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, h, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 2, h, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 1, h, st);
  TF_DeleteShapeHandle(h);
}

void lastAxisShape(TF_ShapeInferenceContext* ctx, TF_Status* st) {
  TF_ShapeHandle* h = TF_NewShapeHandle();
  TF_ShapeHandle* last = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, h, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, h, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSubshape(ctx, h, -1, INT64_MAX, last, st);
  if (TF_GetCode(st) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 1, last, st);
  TF_DeleteShapeHandle(last);
  TF_DeleteShapeHandle(h);
}

// Shapes known only at run time (the Java side reshapes the outputs to what it knows).
void unknownShapes(TF_ShapeInferenceContext*, TF_Status*) {}

void defineOp(const char* name, const char* const* inputs, const char* const* outputs,
              void (*shape)(TF_ShapeInferenceContext*, TF_Status*), TF_Status* st) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(name);
  TF_OpDefinitionBuilderAddAttr(b, "T: {float, bfloat16}");
  for (const char* const* s = inputs; *s != nullptr; s++) TF_OpDefinitionBuilderAddInput(b, *s);
  for (const char* const* s = outputs; *s != nullptr; s++) TF_OpDefinitionBuilderAddOutput(b, *s);
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, shape);
  TF_RegisterOpDefinition(b, st);
}

template <typename T>
void registerKernel(const char* op, const char* kernelName, void (*compute)(void*, TF_OpKernelContext*),
                    TF_Status* st) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(op, "CPU", nullptr, compute, nullptr);
  TF_KernelBuilder_TypeConstraint(k, "T", dtype<T>(), st);
  TF_RegisterKernelBuilder(kernelName, k, st);
}

// Registers the ops and their float and bfloat16 CPU kernels when the library is loaded. Also
// adds the ops to the allow list of Grappler's bf16 rewrite (read from this variable each time the
// rewrite runs), so that in a bf16 graph they run on bf16 tensors instead of being wrapped in casts.
__attribute__((constructor)) void registerAll() {
  TF_Status* st = TF_NewStatus();
  static const char* lnIn[] = {"x: T", nullptr};
  static const char* lnOut[] = {"y: T", "rstd: float", nullptr};
  static const char* lngIn[] = {"dy: T", "y: T", "rstd: float", nullptr};
  static const char* lngOut[] = {"dx: T", nullptr};
  static const char* bgIn[] = {"z: T", "b: T", nullptr};
  static const char* bgOut[] = {"y: T", nullptr};
  static const char* bggIn[] = {"dy: T", "z: T", "b: T", nullptr};
  static const char* bggOut[] = {"dz: T", "db: T", nullptr};
  defineOp("Dino4jLayerNorm", lnIn, lnOut, layerNormShape, st);
  defineOp("Dino4jLayerNormGrad", lngIn, lngOut, sameAsInput0, st);
  defineOp("Dino4jBiasGelu", bgIn, bgOut, sameAsInput0, st);
  defineOp("Dino4jBiasGeluGrad", bggIn, bggOut, biasGeluGradShape, st);
  static const char* bsrIn[] = {"x: T", "z: T", "b: T", "s: float", nullptr};
  static const char* bsrOut[] = {"y: T", nullptr};
  static const char* bsrgIn[] = {"dy: T", "s: float", nullptr};
  static const char* bsrgOut[] = {"dz: T", "db: T", nullptr};
  defineOp("Dino4jBiasScaleResidual", bsrIn, bsrOut, sameAsInput0, st);
  defineOp("Dino4jBiasScaleResidualGrad", bsrgIn, bsrgOut, lastAxisShape, st);
  registerKernel<float>("Dino4jBiasScaleResidual", "Dino4jBiasScaleResidualF32", biasScaleResidual<float>, st);
  registerKernel<Bf16>("Dino4jBiasScaleResidual", "Dino4jBiasScaleResidualBf16", biasScaleResidual<Bf16>, st);
  registerKernel<float>("Dino4jBiasScaleResidualGrad", "Dino4jBiasScaleResidualGradF32", biasScaleResidualGrad<float>, st);
  registerKernel<Bf16>("Dino4jBiasScaleResidualGrad", "Dino4jBiasScaleResidualGradBf16", biasScaleResidualGrad<Bf16>, st);
  static const char* qkvIn[] = {"z: T", "b: T", nullptr};
  static const char* qkvOut[] = {"q: T", "k: T", "v: T", nullptr};
  static const char* qkvgIn[] = {"dq: T", "dk: T", "dv: T", nullptr};
  static const char* qkvgOut[] = {"dz: T", "db: T", nullptr};
  defineOp("Dino4jQkvHeads", qkvIn, qkvOut, unknownShapes, st);
  defineOp("Dino4jQkvHeadsGrad", qkvgIn, qkvgOut, unknownShapes, st);
  registerKernel<float>("Dino4jQkvHeads", "Dino4jQkvHeadsF32", qkvHeads<float>, st);
  registerKernel<Bf16>("Dino4jQkvHeads", "Dino4jQkvHeadsBf16", qkvHeads<Bf16>, st);
  registerKernel<float>("Dino4jQkvHeadsGrad", "Dino4jQkvHeadsGradF32", qkvHeadsGrad<float>, st);
  registerKernel<Bf16>("Dino4jQkvHeadsGrad", "Dino4jQkvHeadsGradBf16", qkvHeadsGrad<Bf16>, st);
  {
    TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder("Dino4jBatchMatMulHook");
    TF_OpDefinitionBuilderAddAttr(b, "T: {float, bfloat16}");
    TF_OpDefinitionBuilderAddAttr(b, "adj_y: bool = false");
    TF_OpDefinitionBuilderAddInput(b, "y: T");
    TF_OpDefinitionBuilderAddInput(b, "a: T");
    TF_OpDefinitionBuilderAddInput(b, "b: T");
    TF_OpDefinitionBuilderAddOutput(b, "out: T");
    TF_OpDefinitionBuilderSetShapeInferenceFunction(b, sameAsInput0);
    TF_RegisterOpDefinition(b, st);
  }
  registerKernel<float>("Dino4jBatchMatMulHook", "Dino4jBatchMatMulHookF32", gradientHook, st);
  registerKernel<Bf16>("Dino4jBatchMatMulHook", "Dino4jBatchMatMulHookBf16", gradientHook, st);
  {
    // float only (master weights), so no type attribute
    static const char* adamIn[] = {"w: float", "m: float", "v: float", "g: float", "h: float", nullptr};
    static const char* adamOut[] = {"w_new: float", "m_new: float", "v_new: float", nullptr};
    static const char* emaIn[] = {"teacher: float", "student: float", "momentum: float", nullptr};
    static const char* emaOut[] = {"teacher_new: float", nullptr};
    for (int k = 0; k < 2; k++) {
      const char* name = k == 0 ? "Dino4jAdamW" : "Dino4jEma";
      TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(name);
      for (const char* const* i = k == 0 ? adamIn : emaIn; *i != nullptr; i++) TF_OpDefinitionBuilderAddInput(b, *i);
      for (const char* const* o = k == 0 ? adamOut : emaOut; *o != nullptr; o++) TF_OpDefinitionBuilderAddOutput(b, *o);
      TF_OpDefinitionBuilderSetShapeInferenceFunction(b, k == 0 ? sameAsInputs012 : sameAsInput0);
      TF_RegisterOpDefinition(b, st);
      TF_RegisterKernelBuilder(k == 0 ? "Dino4jAdamWF32" : "Dino4jEmaF32",
                               TF_NewKernelBuilder(name, "CPU", nullptr, k == 0 ? adamW : ema, nullptr), st);
    }
  }
  static const char* shIn[] = {"y: T", "x: T", nullptr};
  static const char* shOut[] = {"out: T", nullptr};
  static const char* smgIn[] = {"dy: T", "y: T", nullptr};
  static const char* smgOut[] = {"dx: T", nullptr};
  defineOp("Dino4jSoftmaxHook", shIn, shOut, sameAsInput0, st);
  defineOp("Dino4jSoftmaxGrad", smgIn, smgOut, sameAsInput0, st);
  registerKernel<float>("Dino4jSoftmaxHook", "Dino4jSoftmaxHookF32", gradientHook, st);
  registerKernel<Bf16>("Dino4jSoftmaxHook", "Dino4jSoftmaxHookBf16", gradientHook, st);
  registerKernel<float>("Dino4jSoftmaxGrad", "Dino4jSoftmaxGradF32", softmaxGrad<float>, st);
  registerKernel<Bf16>("Dino4jSoftmaxGrad", "Dino4jSoftmaxGradBf16", softmaxGrad<Bf16>, st);
  registerKernel<float>("Dino4jLayerNorm", "Dino4jLayerNormF32", layerNorm<float>, st);
  registerKernel<Bf16>("Dino4jLayerNorm", "Dino4jLayerNormBf16", layerNorm<Bf16>, st);
  registerKernel<float>("Dino4jLayerNormGrad", "Dino4jLayerNormGradF32", layerNormGrad<float>, st);
  registerKernel<Bf16>("Dino4jLayerNormGrad", "Dino4jLayerNormGradBf16", layerNormGrad<Bf16>, st);
  registerKernel<float>("Dino4jBiasGelu", "Dino4jBiasGeluF32", biasGelu<float>, st);
  registerKernel<Bf16>("Dino4jBiasGelu", "Dino4jBiasGeluBf16", biasGelu<Bf16>, st);
  registerKernel<float>("Dino4jBiasGeluGrad", "Dino4jBiasGeluGradF32", biasGeluGrad<float>, st);
  registerKernel<Bf16>("Dino4jBiasGeluGrad", "Dino4jBiasGeluGradBf16", biasGeluGrad<Bf16>, st);
  TF_DeleteStatus(st);
  const char* key = "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_ALLOWLIST_ADD";
  const char* old = std::getenv(key);
  std::string list = "Dino4jLayerNorm,Dino4jLayerNormGrad,Dino4jBiasGelu,Dino4jBiasGeluGrad,Dino4jBatchMatMulHook,"
                     "Dino4jBiasScaleResidual,Dino4jBiasScaleResidualGrad,Dino4jQkvHeads,Dino4jQkvHeadsGrad,"
                     "Dino4jSoftmaxHook,Dino4jSoftmaxGrad";
  if (old != nullptr && *old != 0) list = std::string(old) + "," + list;
  setenv(key, list.c_str(), 1);
}

}  // namespace
