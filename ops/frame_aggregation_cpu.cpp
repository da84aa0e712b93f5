// Frame-wise Aggregation (FA) on the CPU: DTF_SPEC.md section 1, fused.
//
// Built on first use by mmdtf's CPU kernel module through
// torch.utils.cpp_extension (one build per source, flags, torch version and
// instruction set) and called through ctypes with data pointers and element
// strides; the tensors are allocated by the caller. The functions return 0,
// or nonzero with a message from mmdtf_fa_last_error().
//
// The same structure as the CUDA kernels (ops/frame_aggregation.cu): the
// forward is one pass per output pixel (the correlations, their softmax and
// the aggregation with the k*k accumulators in registers), the backward two
// passes with no atomics (the logit gradients per query pixel, then a gather
// per input pixel), so results do not depend on the number of threads.
//
// Work is split into bands of rows of one frame (at::parallel_for over
// (n, t, band), so torch.set_num_threads applies). A band is first copied
// into a buffer in the accumulation type (float, or double for double),
// channels outermost, the key frames zero-padded by R = K / 2 on every side:
// a key outside the image then reads 0, which is its correlation and its
// value (the spec's zero padding), with no test in the inner loops. The copy
// reads any memory layout (ResNetDTF's (N, T, C, H, W) frames, SwinDTF's
// channels-last tokens, contiguous or any other strides) in its own order,
// and converts bfloat16 / float16 once. The inner loops then run over TILE
// consecutive pixels of a row (one cache line of accumulators per offset),
// which the compiler vectorises; a tile past the end of a row computes
// lanes that are never stored.
//
// Offsets: j = (dy + R) * K + (dx + R), dy, dx in [-R, R]; the key of query
// pixel p in frame t is p + (dy, dx) in frame t+1.

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace {

using index_t = int64_t;

// dtype codes of the Python side
enum DType { kFloat32 = 0, kFloat64 = 1, kBFloat16 = 2, kFloat16 = 3 };

// Element strides of a (N, C, T, H, W) tensor.
struct Strides {
  index_t n, c, t, h, w;
  explicit Strides(const int64_t* s) : n(s[0]), c(s[1]), t(s[2]), h(s[3]), w(s[4]) {}
};

struct Shape {
  index_t N, C, T, H, W;
};

std::string& last_error() {
  static thread_local std::string message;
  return message;
}

// A band of `rows` rows from row0 of frame t of a (N, C, T, H, W) tensor,
// padded by `pad` rows and columns: buf[c][i][j] = src[n, c, t, row0 - pad
// + i, j - pad], 0 outside the image.
struct Band {
  index_t row0, rows, pad, width, plane;  // width: W + 2 pad
  Band(const Shape& g, index_t row0, index_t rows, index_t pad)
      : row0(row0), rows(rows), pad(pad), width(round_up(g.W + 2 * pad)),
        plane((rows + 2 * pad) * round_up(g.W + 2 * pad)) {}
  // whole tiles per row: a tile's full-vector store stays in its row
  static index_t round_up(index_t w) { return (w + 7) / 8 * 8; }
};

template <typename S, typename A>
void load_band(const S* src, const Strides& s, const Shape& g, index_t n,
               index_t t, const Band& b, A* buf) {
  const index_t padded_rows = b.rows + 2 * b.pad;
  const S* frame = src + n * s.n + t * s.t;
  // the zeros: rows outside the image and the side columns
  for (index_t c = 0; c < g.C; ++c) {
    for (index_t i = 0; i < padded_rows; ++i) {
      A* row = buf + c * b.plane + i * b.width;
      const index_t h = b.row0 - b.pad + i;
      if (h < 0 || h >= g.H) {
        std::fill(row, row + b.width, A(0));
      } else if (b.pad) {
        std::fill(row, row + b.pad, A(0));
        std::fill(row + b.pad + g.W, row + b.width, A(0));
      }
    }
  }
  const index_t h_lo = std::max<index_t>(0, b.row0 - b.pad);
  const index_t h_hi = std::min<index_t>(g.H, b.row0 + b.rows + b.pad);
  if (s.c < s.w) {  // channels innermost (SwinDTF's tokens): memory order
    for (index_t h = h_lo; h < h_hi; ++h) {
      A* out = buf + (h - b.row0 + b.pad) * b.width + b.pad;
      for (index_t w = 0; w < g.W; ++w) {
        const S* px = frame + h * s.h + w * s.w;
        for (index_t c = 0; c < g.C; ++c)
          out[c * b.plane + w] = static_cast<A>(px[c * s.c]);
      }
    }
    return;
  }
  for (index_t c = 0; c < g.C; ++c) {
    for (index_t h = h_lo; h < h_hi; ++h) {
      const S* in = frame + c * s.c + h * s.h;
      A* out = buf + c * b.plane + (h - b.row0 + b.pad) * b.width + b.pad;
      if (s.w == 1) {
        for (index_t w = 0; w < g.W; ++w) out[w] = static_cast<A>(in[w]);
      } else {
        for (index_t w = 0; w < g.W; ++w) out[w] = static_cast<A>(in[w * s.w]);
      }
    }
  }
}

// The inverse of load_band for an unpadded band: dst[n, c, t, row0 + i, w]
// = buf[c][i][w], rounded to S.
template <typename S, typename A>
void store_band(const A* buf, S* dst, const Strides& s, const Shape& g,
                index_t n, index_t t, const Band& b) {
  S* frame = dst + n * s.n + t * s.t;
  if (s.c < s.w) {
    for (index_t i = 0; i < b.rows; ++i) {
      const A* in = buf + i * b.width;
      for (index_t w = 0; w < g.W; ++w) {
        S* px = frame + (b.row0 + i) * s.h + w * s.w;
        for (index_t c = 0; c < g.C; ++c)
          px[c * s.c] = static_cast<S>(in[c * b.plane + w]);
      }
    }
    return;
  }
  for (index_t c = 0; c < g.C; ++c) {
    for (index_t i = 0; i < b.rows; ++i) {
      const A* in = buf + c * b.plane + i * b.width;
      S* out = frame + c * s.c + (b.row0 + i) * s.h;
      if (s.w == 1) {
        for (index_t w = 0; w < g.W; ++w) out[w] = static_cast<S>(in[w]);
      } else {
        for (index_t w = 0; w < g.W; ++w) out[w * s.w] = static_cast<S>(in[w]);
      }
    }
  }
}

// A tile: the consecutive pixels of a row that one vector holds (GCC/Clang
// vector extensions: AVX registers in an avx2 build, SSE pairs otherwise).
template <typename A>
struct Vec {
  typedef A type __attribute__((vector_size(32)));
  static constexpr int lanes = 32 / sizeof(A);
};
template <typename A>
using vec_t = typename Vec<A>::type;

template <typename A>
inline vec_t<A> load(const A* p) {
  vec_t<A> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename A>
inline void store(A* p, const vec_t<A>& v) {
  std::memcpy(p, &v, sizeof(v));
}

// The first `lanes` lanes to p[l * stride], the others to 0.
template <typename A>
inline vec_t<A> load_lanes(const A* p, index_t stride, index_t lanes) {
  vec_t<A> v = {};
  for (index_t l = 0; l < lanes; ++l) v[l] = p[l * stride];
  return v;
}

template <typename A>
inline void store_lanes(A* p, index_t stride, const vec_t<A>& v, index_t lanes) {
  if (stride == 1 && lanes == Vec<A>::lanes) return store(p, v);
  for (index_t l = 0; l < lanes; ++l) p[l * stride] = v[l];
}

template <typename A>
inline vec_t<A> broadcast(A a) {
  return vec_t<A>{} + a;
}

template <typename A>
inline vec_t<A> vmax(const vec_t<A>& a, const vec_t<A>& b) {
  return a > b ? a : b;
}

// exp for the softmax (std::exp is not vectorised without -ffast-math):
// for float, Cephes' expf (range reduction by ln 2 in two parts, a degree-6
// polynomial; about 1 ulp) on inputs <= 0 (logits less their maximum),
// clamped at -87 where expf would underflow; double takes std::exp per lane.
inline vec_t<float> softmax_exp(vec_t<float> x) {
  typedef int32_t ints __attribute__((vector_size(32)));
  x = vmax<float>(x, broadcast(-87.0f));
  // round to nearest: adding and subtracting 1.5 * 2^23
  const vec_t<float> n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  x = x - n * 0.693359375f + n * 2.12194440e-4f;
  vec_t<float> p = broadcast(1.9875691500e-4f);
  p = p * x + 1.3981999507e-3f;
  p = p * x + 8.3334519073e-3f;
  p = p * x + 4.1665795894e-2f;
  p = p * x + 1.6666665459e-1f;
  p = p * x + 5.0000001201e-1f;
  p = p * x * x + x + 1.0f;
  const ints bits = (__builtin_convertvector(n, ints) + 127) << 23;
  return p * reinterpret_cast<const vec_t<float>&>(bits);
}

inline vec_t<double> softmax_exp(vec_t<double> x) {
  for (int l = 0; l < Vec<double>::lanes; ++l) x[l] = std::exp(x[l]);
  return x;
}

// In place: the softmax over j of each lane's K2 logits.
template <typename A, int K2>
inline void softmax(vec_t<A> (&v)[K2]) {
  vec_t<A> m = v[0];
#pragma GCC unroll 64
  for (int j = 1; j < K2; ++j) m = vmax<A>(m, v[j]);
  vec_t<A> sum = {};
#pragma GCC unroll 64
  for (int j = 0; j < K2; ++j) {
    v[j] = softmax_exp(v[j] - m);
    sum += v[j];
  }
#pragma GCC unroll 64
  for (int j = 0; j < K2; ++j) v[j] /= sum;
}

// f(j, key_j) for the K x K keys around `centre` (a padded band: rows
// `width` apart); `sign` -1 takes the mirrored offsets -d_j.
template <typename A, int K, int sign = 1, typename F>
inline void for_each_key(const A* centre, index_t width, F&& f) {
  constexpr int R = K / 2;
#pragma GCC unroll 16
  for (int dy = 0; dy < K; ++dy) {
    const A* row = centre + sign * (dy - R) * width;
#pragma GCC unroll 16
    for (int dx = 0; dx < K; ++dx) f(dy * K + dx, load(row + sign * (dx - R)));
  }
}

// v[j] += a * key_j
template <typename A, int K>
inline void add_products(vec_t<A> (&v)[K * K], const vec_t<A>& a,
                         const A* centre, index_t width) {
  for_each_key<A, K>(centre, width, [&](int j, const vec_t<A>& key) { v[j] += a * key; });
}

// acc + the sum over the keys of coef[j] * key_j
template <typename A, int K, int sign = 1>
inline vec_t<A> weighted_keys(const vec_t<A> (&coef)[K * K], vec_t<A> acc,
                              const A* centre, index_t width) {
  for_each_key<A, K, sign>(centre, width, [&](int j, const vec_t<A>& key) { acc += coef[j] * key; });
  return acc;
}

// Rows per band: a task's band buffers about fit in 512 KiB (an L2 cache's
// share), with at least 4 tasks per thread where the shape allows.
index_t band_rows(const Shape& g, index_t pad, int buffers, index_t frames) {
  const index_t row_bytes = std::max<index_t>(g.C * (g.W + 2 * pad) * 4 * buffers, 1);
  index_t rows = std::max<index_t>(1, (512 * 1024) / row_bytes - 2 * pad);
  const index_t tasks = 4 * at::get_num_threads();
  const index_t per_frame = (tasks + g.N * frames - 1) / std::max<index_t>(g.N * frames, 1);
  rows = std::min(rows, std::max<index_t>(1, g.H / per_frame));
  return std::min(rows, std::max<index_t>(g.H, 1));
}

// Scratch of one thread: `count` band buffers, each with two rows and a
// tile of slack (a row's last tile reads past the band's end).
template <typename A>
struct Scratch {
  std::vector<A> data;
  index_t size;
  Scratch(const Shape& g, index_t rows, index_t pad, int count) {
    const Band b(g, 0, rows, pad);
    size = g.C * b.plane + 2 * b.width + 2 * Vec<A>::lanes;
    data.assign(size * count, A(0));
  }
  A* operator[](int i) { return data.data() + i * size; }
};

// ---------------------------------------------------------------- forward --

template <typename S, typename A, int K>
void forward(const S* x, const Strides& sx, S* y, const Strides& sy,
             A* corr, const Strides& sr, const Shape& g) {
  using vec = vec_t<A>;
  constexpr int R = K / 2, K2 = K * K, L = Vec<A>::lanes;
  const index_t rows = band_rows(g, R, 2, g.T);
  const index_t bands = (g.H + rows - 1) / rows;
  at::parallel_for(0, g.N * g.T * bands, 1, [&](index_t begin, index_t end) {
    Scratch<A> scratch(g, rows, R, 2);
    A* query = scratch[0];  // frame t; y is written over it
    A* keys = scratch[1];   // frame t+1, padded
    for (index_t task = begin; task < end; ++task) {
      const index_t n = task / (g.T * bands), t = task / bands % g.T;
      const index_t row0 = task % bands * rows;
      const Band qb(g, row0, std::min(rows, g.H - row0), 0);
      const Band kb(g, row0, qb.rows, R);
      load_band(x, sx, g, n, t, qb, query);
      A* cr = corr + n * sr.n + t * sr.t;
      if (t == g.T - 1) {  // no next frame: y = x, corr = 0
        store_band(query, y, sy, g, n, t, qb);
        for (int j = 0; j < K2; ++j)
          for (index_t h = row0; h < row0 + qb.rows; ++h)
            for (index_t w = 0; w < g.W; ++w) cr[j * sr.c + h * sr.h + w * sr.w] = 0;
        continue;
      }
      load_band(x, sx, g, n, t + 1, kb, keys);
      for (index_t i = 0; i < qb.rows; ++i) {
        for (index_t w0 = 0; w0 < g.W; w0 += L) {
          const index_t lanes = std::min<index_t>(L, g.W - w0);
          A* q = query + i * qb.width + w0;
          const A* k = keys + (i + R) * kb.width + R + w0;  // the centre key
          vec v[K2] = {};
          for (index_t c = 0; c < g.C; ++c)
            add_products<A, K>(v, load(q + c * qb.plane), k + c * kb.plane, kb.width);
          A* cp = cr + (row0 + i) * sr.h + w0 * sr.w;
#pragma GCC unroll 64
          for (int j = 0; j < K2; ++j) {
            v[j] /= static_cast<A>(g.C);  // the channel mean
            store_lanes(cp + j * sr.c, sr.w, v[j], lanes);
          }
          softmax<A, K2>(v);
          for (index_t c = 0; c < g.C; ++c)  // y = x + agg, over the query
            store(q + c * qb.plane, weighted_keys<A, K>(v, load(q + c * qb.plane),
                                                        k + c * kb.plane, kb.width));
        }
      }
      store_band(query, y, sy, g, n, t, qb);
    }
  });
}

// --------------------------------------------------------------- backward --
//
// Step 1, per query pixel (n, t < T-1, p): the softmax of the saved logits
// corr, grad_attn_j = sum_c grad_y[c, t, p] * x[c, t+1, p + d_j] and
//   glogit_j = (attn_j * (grad_attn_j - sum_i attn_i grad_attn_i)
//               + grad_corr_j) / C,
// stored with attn in (N, T-1, K2, H + 2R, W + 2R) buffers whose zero
// border stands for the queries outside the image in step 2.
// Step 2, per pixel (n, t, p') of x, a gather:
//   grad_x[c, t, p'] = grad_y[c, t, p']
//     + [t < T-1] sum_j glogit[j, t, p'] * x[c, t+1, p' + d_j]       (query)
//     + [t > 0]   sum_j glogit[j, t-1, p' - d_j] * x[c, t-1, p' - d_j]
//                       + attn[j, t-1, p' - d_j] * grad_y[c, t-1, p' - d_j]
//                                                                     (key)
// grad_y may be null (y unused: no residual, no value term), and so may
// grad_corr (corr unused).

template <typename A>
struct LogitBuffers {
  index_t pad, width, plane, frame, T;
  std::vector<A> attn, glogit;
  LogitBuffers(const Shape& g, int K, bool with_attn)
      : pad(K / 2), width(g.W + 2 * (K / 2)),
        plane((g.H + 2 * (K / 2)) * (g.W + 2 * (K / 2))), frame(K * K * plane), T(g.T) {
    // slack: the unstored lanes of a row's last tile read past the end
    const index_t size = g.N * std::max<index_t>(g.T - 1, 0) * frame + width + 2 * Vec<A>::lanes;
    glogit.assign(size, A(0));
    if (with_attn) attn.assign(size, A(0));
  }
  // the offset of [n, j=0, t, h, w] (t < T-1)
  index_t at(index_t n, index_t t, index_t h, index_t w) const {
    return (n * (T - 1) + t) * frame + (h + pad) * width + w + pad;
  }
};

template <typename S, typename A, int K>
void backward_logits(const S* grad_y, const Strides& sg, const A* grad_corr,
                     const Strides& sgc, const S* x, const Strides& sx,
                     const A* corr, const Strides& sr, const Shape& g,
                     LogitBuffers<A>& lb) {
  using vec = vec_t<A>;
  constexpr int R = K / 2, K2 = K * K, L = Vec<A>::lanes;
  const index_t rows = band_rows(g, R, 2, g.T - 1);
  const index_t bands = (g.H + rows - 1) / rows;
  at::parallel_for(0, g.N * (g.T - 1) * bands, 1, [&](index_t begin, index_t end) {
    Scratch<A> scratch(g, rows, R, 2);
    A* grads = scratch[0];  // grad_y of frame t
    A* keys = scratch[1];   // x of frame t+1, padded
    for (index_t task = begin; task < end; ++task) {
      const index_t n = task / ((g.T - 1) * bands), t = task / bands % (g.T - 1);
      const index_t row0 = task % bands * rows;
      const Band gb(g, row0, std::min(rows, g.H - row0), 0);
      const Band kb(g, row0, gb.rows, R);
      if (grad_y) {
        load_band(grad_y, sg, g, n, t, gb, grads);
        load_band(x, sx, g, n, t + 1, kb, keys);
      }
      for (index_t i = 0; i < gb.rows; ++i) {
        const index_t h = row0 + i;
        for (index_t w0 = 0; w0 < g.W; w0 += L) {
          const index_t lanes = std::min<index_t>(L, g.W - w0);
          vec ga[K2] = {};  // grad_attn
          if (grad_y) {
            const A* gr = grads + i * gb.width + w0;
            const A* k = keys + (i + R) * kb.width + R + w0;
            for (index_t c = 0; c < g.C; ++c)
              add_products<A, K>(ga, load(gr + c * gb.plane), k + c * kb.plane, kb.width);
          }
          vec a[K2];
          const A* cp = corr + n * sr.n + t * sr.t + h * sr.h + w0 * sr.w;
#pragma GCC unroll 64
          for (int j = 0; j < K2; ++j) a[j] = load_lanes(cp + j * sr.c, sr.w, lanes);
          softmax<A, K2>(a);
          vec dot = {};
#pragma GCC unroll 64
          for (int j = 0; j < K2; ++j) dot += a[j] * ga[j];
          const A* gc = grad_corr ? grad_corr + n * sgc.n + t * sgc.t + h * sgc.h + w0 * sgc.w : nullptr;
          const index_t o = lb.at(n, t, h, w0);
          for (int j = 0; j < K2; ++j) {
            vec gl = a[j] * (ga[j] - dot);
            if (gc) gl += load_lanes(gc + j * sgc.c, sgc.w, lanes);
            store_lanes(lb.glogit.data() + o + j * lb.plane, 1, gl / static_cast<A>(g.C), lanes);
            if (!lb.attn.empty()) store_lanes(lb.attn.data() + o + j * lb.plane, 1, a[j], lanes);
          }
        }
      }
    }
  });
}

template <typename S, typename A, int K>
void backward_input(const S* grad_y, const Strides& sg, const S* x,
                    const Strides& sx, S* grad_x, const Strides& sgx,
                    const Shape& g, const LogitBuffers<A>& lb) {
  using vec = vec_t<A>;
  constexpr int R = K / 2, K2 = K * K, L = Vec<A>::lanes;
  const index_t rows = band_rows(g, R, 4, g.T);
  const index_t bands = (g.H + rows - 1) / rows;
  at::parallel_for(0, g.N * g.T * bands, 1, [&](index_t begin, index_t end) {
    Scratch<A> scratch(g, rows, R, 4);
    A* out = scratch[0];         // grad_y of frame t, then grad_x over it
    A* next = scratch[1];        // x of frame t+1, padded
    A* prev = scratch[2];        // x of frame t-1, padded
    A* prev_grads = scratch[3];  // grad_y of frame t-1, padded
    for (index_t task = begin; task < end; ++task) {
      const index_t n = task / (g.T * bands), t = task / bands % g.T;
      const index_t row0 = task % bands * rows;
      const Band ob(g, row0, std::min(rows, g.H - row0), 0);
      const Band pb(g, row0, ob.rows, R);
      const bool as_query = t < g.T - 1, as_key = t > 0;
      const bool values = grad_y && as_key;
      if (grad_y) {
        load_band(grad_y, sg, g, n, t, ob, out);  // the residual
      } else {
        std::fill(out, out + g.C * ob.plane, A(0));
      }
      if (as_query) load_band(x, sx, g, n, t + 1, pb, next);
      if (as_key) load_band(x, sx, g, n, t - 1, pb, prev);
      if (values) load_band(grad_y, sg, g, n, t - 1, pb, prev_grads);
      for (index_t i = 0; i < ob.rows; ++i) {
        const index_t h = row0 + i;
        for (index_t w0 = 0; w0 < g.W; w0 += L) {
          A* o = out + i * ob.width + w0;
          const index_t centre = (i + R) * pb.width + R + w0;
          vec coef[K2];
          if (as_query) {  // x[t+1] weighted by this pixel's logit gradients
            const A* gl = lb.glogit.data() + lb.at(n, t, h, w0);
#pragma GCC unroll 64
            for (int j = 0; j < K2; ++j) coef[j] = load(gl + j * lb.plane);
            for (index_t c = 0; c < g.C; ++c)
              store(o + c * ob.plane, weighted_keys<A, K>(coef, load(o + c * ob.plane),
                                                          next + c * pb.plane + centre, pb.width));
          }
          // as the key j of the query p' - d_j of frame t-1: x[t-1] weighted
          // by that query's logit gradients, grad_y[t-1] by its attention
          const index_t ko = lb.at(n, t - 1, h, w0);
          const std::pair<const A*, const A*> key_terms[] = {
              {as_key ? lb.glogit.data() : nullptr, prev},
              {values ? lb.attn.data() : nullptr, prev_grads}};
          for (const auto& [weights, source] : key_terms) {
            if (!weights) continue;
#pragma GCC unroll 64
            for (int j = 0; j < K2; ++j)
              coef[j] = load(weights + ko + j * lb.plane - (j / K - R) * lb.width - (j % K - R));
            for (index_t c = 0; c < g.C; ++c)
              store(o + c * ob.plane, weighted_keys<A, K, -1>(coef, load(o + c * ob.plane),
                                                              source + c * pb.plane + centre, pb.width));
          }
        }
      }
      store_band(out, grad_x, sgx, g, n, t, ob);
    }
  });
}

template <typename S, typename A, int K>
void backward(const S* grad_y, const Strides& sg, const A* grad_corr,
              const Strides& sgc, const S* x, const Strides& sx,
              const A* corr, const Strides& sr, S* grad_x,
              const Strides& sgx, const Shape& g) {
  LogitBuffers<A> lb(g, K, grad_y != nullptr);
  if (g.T > 1)
    backward_logits<S, A, K>(grad_y, sg, grad_corr, sgc, x, sx, corr, sr, g, lb);
  backward_input<S, A, K>(grad_y, sg, x, sx, grad_x, sgx, g, lb);
}

// ------------------------------------------------------------- dispatch --

template <typename F>
int guarded(F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    last_error() = e.what();
  } catch (...) {
    last_error() = "unknown C++ exception";
  }
  return 1;
}

// The body of each extern "C" entry point, with S (the tensors' dtype), A
// (its accumulation type) and K (the kernel size) known at compile time.
#define MMDTF_FA_DISPATCH_K(...)                                         \
  switch (k) {                                                            \
    case 1: { constexpr int K = 1; return guarded([&] { __VA_ARGS__; }); }       \
    case 3: { constexpr int K = 3; return guarded([&] { __VA_ARGS__; }); }       \
    case 5: { constexpr int K = 5; return guarded([&] { __VA_ARGS__; }); }       \
    case 7: { constexpr int K = 7; return guarded([&] { __VA_ARGS__; }); }       \
  }                                                                       \
  last_error() = "kernel_size " + std::to_string(k) + " is not built (1, 3, 5 and 7 are)"; \
  return 2;

#define MMDTF_FA_DISPATCH(...)                                           \
  switch (dtype) {                                                        \
    case kFloat32: { using S = float; using A = float; MMDTF_FA_DISPATCH_K(__VA_ARGS__) } \
    case kFloat64: { using S = double; using A = double; MMDTF_FA_DISPATCH_K(__VA_ARGS__) } \
    case kBFloat16: { using S = c10::BFloat16; using A = float; MMDTF_FA_DISPATCH_K(__VA_ARGS__) } \
    case kFloat16: { using S = c10::Half; using A = float; MMDTF_FA_DISPATCH_K(__VA_ARGS__) } \
  }                                                                       \
  last_error() = "dtype code " + std::to_string(dtype) + " is not built"; \
  return 2;

}  // namespace

extern "C" {

const char* mmdtf_fa_last_error() { return last_error().c_str(); }

// y and x in dtype; corr in the accumulation type (float32, or float64).
int mmdtf_fa_forward(int dtype, int k, const int64_t* shape, const void* x,
                     const int64_t* x_strides, void* y,
                     const int64_t* y_strides, void* corr,
                     const int64_t* corr_strides) {
  const Shape g{shape[0], shape[1], shape[2], shape[3], shape[4]};
  const Strides sx(x_strides), sy(y_strides), sr(corr_strides);
  MMDTF_FA_DISPATCH(forward<S, A, K>(static_cast<const S*>(x), sx,
                                      static_cast<S*>(y), sy,
                                      static_cast<A*>(corr), sr, g))
}

// grad_y, x, grad_x in dtype; grad_corr and corr in the accumulation type.
// grad_y or grad_corr may be null.
int mmdtf_fa_backward(int dtype, int k, const int64_t* shape,
                      const void* grad_y, const int64_t* grad_y_strides,
                      const void* grad_corr,
                      const int64_t* grad_corr_strides, const void* x,
                      const int64_t* x_strides, const void* corr,
                      const int64_t* corr_strides, void* grad_x,
                      const int64_t* grad_x_strides) {
  const Shape g{shape[0], shape[1], shape[2], shape[3], shape[4]};
  const Strides sg(grad_y_strides), sgc(grad_corr_strides), sx(x_strides),
      sr(corr_strides), sgx(grad_x_strides);
  MMDTF_FA_DISPATCH(backward<S, A, K>(
      static_cast<const S*>(grad_y), sg, static_cast<const A*>(grad_corr),
      sgc, static_cast<const S*>(x), sx, static_cast<const A*>(corr), sr,
      static_cast<S*>(grad_x), sgx, g))
}

}  // extern "C"
