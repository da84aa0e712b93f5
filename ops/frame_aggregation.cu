// Frame-wise Aggregation (FA) kernels: DTF_SPEC.md section 1.
//
// Compiled at run time by NVRTC through CuPy
// (mmdtf/ops/frame_aggregation_cupy.py) once per (device, dtype, kernel
// size K); shapes are kernel arguments. The
// file includes no header at all, so it compiles with any NVRTC and any CuPy
// wheel, with or without a CUDA toolkit's cuda_fp16.h / cuda_bf16.h: half and
// bfloat16 are 16-bit storage types converted to float by hand below.
//
// Layouts: x, y, grad_y and grad_x share one layout, given by the element
// strides sn, sc, st of their N, C and T axes; each (H, W) plane is
// contiguous. That covers contiguous (N, C, T, H, W) and the (N, T, C, H, W)
// memory of ResNetDTF's frame batch, both read in place. corr and grad_corr
// are contiguous (N, K*K, T, H, W); the backward scratch buffers attn and
// glogit are contiguous (N, K*K, T-1, H, W) in the accumulation type.
//
// One thread per pixel (n, t, h, w), consecutive threads on consecutive w, so
// each channel load of a warp is one coalesced access; the thread loops over C
// and keeps its K*K correlations in registers (K is a template parameter, so
// the j-loops unroll and the arrays stay in registers). No shared memory, no
// atomics, no inter-thread communication: results are deterministic, and a
// serial host emulation of the grid is exact (tests/ops/test_cuda_sources.py).
//
// Offsets: j = (dy + R) * K + (dx + R), dy, dx in [-R, R]; the key of query
// pixel p in frame t is pixel p + (dy, dx) in frame t+1; keys outside the
// image are zero (correlation 0, which still takes softmax mass, and no
// value).

// Storage types of torch.float16 / torch.bfloat16 elements.
struct fa_half {
  unsigned short bits;
};
struct fa_bf16 {
  unsigned short bits;
};

#ifdef FA_HOST_EMULATION
// The host emulation harness includes <cstring> and defines the CUDA keywords.
// A host compiler without _Float16 defines FA_EMULATE_NO_HALF and leaves the
// fa_half kernels out (declared only: nothing that is compiled calls them).
inline float fa_uint_as_float(unsigned u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}
inline unsigned fa_float_as_uint(float f) {
  unsigned u;
  memcpy(&u, &f, sizeof(u));
  return u;
}
#ifdef FA_EMULATE_NO_HALF
float fa_half_to_float(unsigned short b);
unsigned short fa_float_to_half(float f);
#else
inline float fa_half_to_float(unsigned short b) {
  _Float16 h;
  memcpy(&h, &b, sizeof(h));
  return (float)h;
}
inline unsigned short fa_float_to_half(float f) {
  _Float16 h = (_Float16)f;  // round to nearest even, as cvt.rn
  unsigned short b;
  memcpy(&b, &h, sizeof(b));
  return b;
}
#endif
#else
__device__ __forceinline__ float fa_uint_as_float(unsigned u) {
  return __uint_as_float(u);
}
__device__ __forceinline__ unsigned fa_float_as_uint(float f) {
  return __float_as_uint(f);
}
// The same instructions cuda_fp16.hpp uses for __half2float / __float2half_rn.
__device__ __forceinline__ float fa_half_to_float(unsigned short b) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(b));
  return f;
}
__device__ __forceinline__ unsigned short fa_float_to_half(float f) {
  unsigned short b;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(b) : "f"(f));
  return b;
}
#endif

// bfloat16 is the top half of a float: widening is exact; narrowing rounds to
// nearest even in integer arithmetic (as torch's c10::BFloat16 and
// __float2bfloat16_rn do; works on every architecture, sm_80 or not).
__device__ __forceinline__ float fa_bf16_to_float(unsigned short b) {
  return fa_uint_as_float(((unsigned)b) << 16);
}
__device__ __forceinline__ unsigned short fa_float_to_bf16(float f) {
  unsigned u = fa_float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)0x7fc0u;  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}

// Per storage type: the accumulation type (float, double for double) and the
// conversions to and from it.
template <typename scalar_t>
struct fa_traits;

template <>
struct fa_traits<double> {
  typedef double acc_t;
  static __device__ __forceinline__ double to_acc(double v) { return v; }
  static __device__ __forceinline__ double from_acc(double v) { return v; }
};

template <>
struct fa_traits<float> {
  typedef float acc_t;
  static __device__ __forceinline__ float to_acc(float v) { return v; }
  static __device__ __forceinline__ float from_acc(float v) { return v; }
};

template <>
struct fa_traits<fa_half> {
  typedef float acc_t;
  static __device__ __forceinline__ float to_acc(fa_half v) {
    return fa_half_to_float(v.bits);
  }
  static __device__ __forceinline__ fa_half from_acc(float v) {
    fa_half r;
    r.bits = fa_float_to_half(v);
    return r;
  }
};

template <>
struct fa_traits<fa_bf16> {
  typedef float acc_t;
  static __device__ __forceinline__ float to_acc(fa_bf16 v) {
    return fa_bf16_to_float(v.bits);
  }
  static __device__ __forceinline__ fa_bf16 from_acc(float v) {
    fa_bf16 r;
    r.bits = fa_float_to_bf16(v);
    return r;
  }
};

__device__ __forceinline__ float fa_exp(float v) { return expf(v); }
__device__ __forceinline__ double fa_exp(double v) { return exp(v); }

// Numerically stable softmax over the K*K logits of one pixel, in place.
template <typename acc_t, int K2>
__device__ __forceinline__ void fa_softmax(acc_t* a) {
  acc_t m = a[0];
#pragma unroll
  for (int j = 1; j < K2; ++j) m = a[j] > m ? a[j] : m;
  acc_t sum = 0;
#pragma unroll
  for (int j = 0; j < K2; ++j) {
    a[j] = fa_exp(a[j] - m);
    sum += a[j];
  }
#pragma unroll
  for (int j = 0; j < K2; ++j) a[j] /= sum;
}

// Which of the K*K neighbours p + (dy_j, dx_j) of pixel (h, w) lie inside the
// image, and their offset from p in a (H, W) plane.
template <int K>
__device__ __forceinline__ void fa_neighbours(int h, int w, int H, int W,
                                              bool* inside, int* offset) {
  constexpr int R = K / 2;
#pragma unroll
  for (int j = 0; j < K * K; ++j) {
    const int dy = j / K - R;
    const int dx = j % K - R;
    inside[j] = (unsigned)(h + dy) < (unsigned)H &&
                (unsigned)(w + dx) < (unsigned)W;
    offset[j] = dy * W + dx;
  }
}

// Forward: y = x + agg and the raw correlation corr, in one pass per pixel.
// Grid-stride loop over the N*T*H*W pixels; the last frame copies x and
// writes zero correlation, so y and corr need no prior initialisation.
template <typename scalar_t, int K>
__global__ void fa_forward(const scalar_t* __restrict__ x,
                           scalar_t* __restrict__ y,
                           scalar_t* __restrict__ corr, const int N,
                           const int C, const int T, const int H,
                           const int W, const long long sn,
                           const long long sc, const long long st) {
  typedef fa_traits<scalar_t> tr;
  typedef typename tr::acc_t acc_t;
  constexpr int K2 = K * K;
  const long long HW = (long long)H * W;
  const long long PS = (long long)T * HW;  // stride of j in corr
  const long long total = (long long)N * PS;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
       i < total; i += (long long)blockDim.x * gridDim.x) {
    const long long n = i / PS;
    const long long tp = i - n * PS;  // t * HW + p
    const int t = (int)(tp / HW);
    const int p = (int)(tp - t * HW);
    const int h = p / W;
    const int w = p - h * W;
    const long long xo = n * sn + t * st + p;  // x[n, 0, t, h, w]
    const scalar_t* xq = x + xo;
    scalar_t* yq = y + xo;
    scalar_t* cq = corr + n * K2 * PS + tp;  // corr[n, 0, t, h, w]
    if (t == T - 1) {
      for (int c = 0; c < C; ++c) yq[c * sc] = xq[c * sc];
#pragma unroll
      for (int j = 0; j < K2; ++j) cq[j * PS] = tr::from_acc((acc_t)0);
      continue;
    }
    bool inside[K2];
    int offset[K2];
    fa_neighbours<K>(h, w, H, W, inside, offset);
    const scalar_t* xk = xq + st;  // x[n, 0, t+1, h, w]

    acc_t a[K2];
#pragma unroll
    for (int j = 0; j < K2; ++j) a[j] = 0;
    for (int c = 0; c < C; ++c) {
      const acc_t q = tr::to_acc(xq[c * sc]);
      const scalar_t* kc = xk + c * sc;
#pragma unroll
      for (int j = 0; j < K2; ++j)
        if (inside[j]) a[j] += q * tr::to_acc(kc[offset[j]]);
    }
#pragma unroll
    for (int j = 0; j < K2; ++j) {
      a[j] /= (acc_t)C;  // the channel mean, not 1/sqrt(C)
      cq[j * PS] = tr::from_acc(a[j]);
    }
    fa_softmax<acc_t, K2>(a);  // logits kept in acc_t, not the rounded corr

    for (int c = 0; c < C; ++c) {
      acc_t out = tr::to_acc(xq[c * sc]);
      const scalar_t* kc = xk + c * sc;
#pragma unroll
      for (int j = 0; j < K2; ++j)
        if (inside[j]) out += a[j] * tr::to_acc(kc[offset[j]]);
      yq[c * sc] = tr::from_acc(out);
    }
  }
}

// Backward, step 1, per query pixel (n, t < T-1, p): recompute the logits and
// softmax (cheaper than saving them: the loop over C is needed anyway for
// grad_attn), then store attn and the logit gradient divided by C,
//   grad_attn_j = sum_c grad_y[c, t, p] * x[c, t+1, p + d_j]
//   glogit_j    = (attn_j * (grad_attn_j - sum_i attn_i grad_attn_i)
//                  + grad_corr_j) / C.
// grad_y may be null (y unused by the graph: grad_attn = 0), and so may
// grad_corr (corr unused); not both.
template <typename scalar_t, int K>
__global__ void fa_backward_logits(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ grad_y,
    const scalar_t* __restrict__ grad_corr,
    typename fa_traits<scalar_t>::acc_t* __restrict__ attn,
    typename fa_traits<scalar_t>::acc_t* __restrict__ glogit, const int N,
    const int C, const int T, const int H, const int W, const long long sn,
    const long long sc, const long long st) {
  typedef fa_traits<scalar_t> tr;
  typedef typename tr::acc_t acc_t;
  constexpr int K2 = K * K;
  const long long HW = (long long)H * W;
  const long long PS = (long long)T * HW;        // stride of j in corr
  const long long BS = (long long)(T - 1) * HW;  // stride of j in the buffers
  const long long total = (long long)N * BS;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
       i < total; i += (long long)blockDim.x * gridDim.x) {
    const long long n = i / BS;
    const long long tp = i - n * BS;  // t * HW + p, t < T-1
    const int t = (int)(tp / HW);
    const int p = (int)(tp - t * HW);
    const int h = p / W;
    const int w = p - h * W;
    const long long xo = n * sn + t * st + p;  // x[n, 0, t, h, w]
    const scalar_t* xq = x + xo;
    const scalar_t* gq = grad_y ? grad_y + xo : nullptr;
    const scalar_t* xk = xq + st;
    bool inside[K2];
    int offset[K2];
    fa_neighbours<K>(h, w, H, W, inside, offset);

    acc_t a[K2], ga[K2];
#pragma unroll
    for (int j = 0; j < K2; ++j) a[j] = ga[j] = 0;
    for (int c = 0; c < C; ++c) {
      const acc_t q = tr::to_acc(xq[c * sc]);
      const acc_t g = gq ? tr::to_acc(gq[c * sc]) : (acc_t)0;
      const scalar_t* kc = xk + c * sc;
#pragma unroll
      for (int j = 0; j < K2; ++j)
        if (inside[j]) {
          const acc_t v = tr::to_acc(kc[offset[j]]);
          a[j] += q * v;
          ga[j] += g * v;
        }
    }
#pragma unroll
    for (int j = 0; j < K2; ++j) a[j] /= (acc_t)C;
    fa_softmax<acc_t, K2>(a);
    acc_t dot = 0;
#pragma unroll
    for (int j = 0; j < K2; ++j) dot += a[j] * ga[j];

    const long long bo = n * K2 * BS + tp;  // buffers[n, 0, t, p]
    const long long co = n * K2 * PS + tp;  // grad_corr[n, 0, t, p]
#pragma unroll
    for (int j = 0; j < K2; ++j) {
      acc_t gl = a[j] * (ga[j] - dot);
      if (grad_corr) gl += tr::to_acc(grad_corr[co + j * PS]);
      attn[bo + j * BS] = a[j];
      glogit[bo + j * BS] = gl / (acc_t)C;
    }
  }
}

// Backward, step 2, per pixel (n, t, p') of x, a gather (no atomics):
//   grad_x[c, t, p'] = grad_y[c, t, p']
//     + [t < T-1] sum_j glogit[j, t, p'] * x[c, t+1, p' + d_j]      (query)
//     + [t > 0]   sum_j over the queries p = p' - d_j of frame t-1 that
//                 saw p' as their key j:
//                 attn[j, t-1, p] * grad_y[c, t-1, p]
//                 + glogit[j, t-1, p] * x[c, t-1, p]                (key)
// attn and glogit may be null when T == 1 (then neither term exists); grad_y
// may be null (y unused: no residual and no value term).
template <typename scalar_t, int K>
__global__ void fa_backward_input(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ grad_y,
    const typename fa_traits<scalar_t>::acc_t* __restrict__ attn,
    const typename fa_traits<scalar_t>::acc_t* __restrict__ glogit,
    scalar_t* __restrict__ grad_x, const int N, const int C, const int T,
    const int H, const int W, const long long sn, const long long sc,
    const long long st) {
  typedef fa_traits<scalar_t> tr;
  typedef typename tr::acc_t acc_t;
  constexpr int K2 = K * K;
  const long long HW = (long long)H * W;
  const long long PS = (long long)T * HW;
  const long long BS = (long long)(T - 1) * HW;
  const long long total = (long long)N * PS;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
       i < total; i += (long long)blockDim.x * gridDim.x) {
    const long long n = i / PS;
    const long long tp = i - n * PS;
    const int t = (int)(tp / HW);
    const int p = (int)(tp - t * HW);
    const int h = p / W;
    const int w = p - h * W;
    const long long xo = n * sn + t * st + p;  // x[n, 0, t, p]
    const long long bo = n * K2 * BS + tp;  // buffers[n, 0, t, p] (t < T-1)

    constexpr int R = K / 2;
    bool as_query[K2], as_key[K2];
    int offset[K2];
    acc_t gq[K2], ak[K2], gk[K2];
#pragma unroll
    for (int j = 0; j < K2; ++j) {
      const int dy = j / K - R;
      const int dx = j % K - R;
      offset[j] = dy * W + dx;
      // as a query (t < T-1): the key p + d_j in frame t+1 exists
      as_query[j] = t < T - 1 && (unsigned)(h + dy) < (unsigned)H &&
                    (unsigned)(w + dx) < (unsigned)W;
      // as a key (t > 0): the query p - d_j in frame t-1 exists
      as_key[j] = t > 0 && (unsigned)(h - dy) < (unsigned)H &&
                  (unsigned)(w - dx) < (unsigned)W;
      gq[j] = as_query[j] ? glogit[bo + j * BS] : (acc_t)0;
      const long long ko = bo + j * BS - HW - offset[j];  // [n, j, t-1, p-d_j]
      ak[j] = as_key[j] ? attn[ko] : (acc_t)0;
      gk[j] = as_key[j] ? glogit[ko] : (acc_t)0;
    }

    for (int c = 0; c < C; ++c) {
      const long long o = xo + c * sc;
      acc_t g = grad_y ? tr::to_acc(grad_y[o]) : (acc_t)0;
#pragma unroll
      for (int j = 0; j < K2; ++j)
        if (as_query[j]) g += gq[j] * tr::to_acc(x[o + st + offset[j]]);
#pragma unroll
      for (int j = 0; j < K2; ++j)
        if (as_key[j]) {
          const long long ok = o - st - offset[j];  // [n, c, t-1, p - d_j]
          if (grad_y) g += ak[j] * tr::to_acc(grad_y[ok]);
          g += gk[j] * tr::to_acc(x[ok]);
        }
      grad_x[o] = tr::from_acc(g);
    }
  }
}

// Explicit instantiations for offline compile checks (nvcc --ptx) and the
// host emulation; the CuPy loader instantiates through NVRTC name expressions
// instead and never defines this macro.
#ifdef MMDTF_INSTANTIATE_ALL
#define FA_INSTANTIATE(S, K)                                                 \
  template __global__ void fa_forward<S, K>(const S*, S*, S*, int, int, int, \
                                            int, int, long long, long long,  \
                                            long long);                      \
  template __global__ void fa_backward_logits<S, K>(                        \
      const S*, const S*, const S*, fa_traits<S>::acc_t*,                    \
      fa_traits<S>::acc_t*, int, int, int, int, int, long long, long long,   \
      long long);                                                            \
  template __global__ void fa_backward_input<S, K>(                         \
      const S*, const S*, const fa_traits<S>::acc_t*,                        \
      const fa_traits<S>::acc_t*, S*, int, int, int, int, int, long long,    \
      long long, long long);
#define FA_INSTANTIATE_K(S) \
  FA_INSTANTIATE(S, 1)      \
  FA_INSTANTIATE(S, 3)      \
  FA_INSTANTIATE(S, 5)      \
  FA_INSTANTIATE(S, 7)
FA_INSTANTIATE_K(double)
FA_INSTANTIATE_K(float)
FA_INSTANTIATE_K(fa_half)
FA_INSTANTIATE_K(fa_bf16)
#endif
