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
// per input pixel; here interleaved row by row), so results do not depend on
// the number of threads.
//
// Work is split into bands of rows of one frame (at::parallel_for over
// (n, t, band), so torch.set_num_threads applies). The inner loops run over
// a tile of consecutive pixels of a row (one vector of accumulators per
// offset), which the compiler vectorises. Where the tensors' rows are
// contiguous in the accumulation type (rows_in_place: ResNetDTF's float32
// frames) every operand is read and written in place: a row's last tile
// then ends at the row's end, overlapping the one before it (its pixels
// computed twice, to the same values), and the tiles whose keys reach
// outside the image (the first and last rows and tiles of a frame) read
// those keys as 0 (the spec's zero padding) through lane masks (Edge), the
// others with no test. Else each frame's band is copied into a buffer in
// the accumulation type (float, or double for double), channels outermost,
// the keys' zero-padded by R = K / 2 on every side, so that an outside key
// reads 0 with no test; the copy reads any memory layout (SwinDTF's
// channels-last tokens, half dtypes, any strides) in its own order and
// converts bfloat16 / float16 once, and a tile past the end of a row
// computes lanes that are never stored.
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
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

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
  if (stride == 1 && lanes == Vec<A>::lanes) return load(p);
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

// Lane masks: all bits set where a lane is in use.
template <typename A>
struct Mask {
  using lane = std::conditional_t<sizeof(A) == 4, int32_t, int64_t>;
  typedef lane type __attribute__((vector_size(32)));
};
template <typename A>
using mask_t = typename Mask<A>::type;

// The lanes of p[0 .. L) that `m` marks, 0 in the others, which are not
// read (p may point outside the tensor there).
template <typename A>
inline vec_t<A> load_masked(const A* p, const mask_t<A>& m) {
#if defined(__AVX2__)
  __m256i bits;
  std::memcpy(&bits, &m, sizeof(bits));
  vec_t<A> v;
  if constexpr (sizeof(A) == 4) {
    const __m256 r = _mm256_maskload_ps(reinterpret_cast<const float*>(p), bits);
    std::memcpy(&v, &r, sizeof(v));
  } else {
    const __m256d r = _mm256_maskload_pd(reinterpret_cast<const double*>(p), bits);
    std::memcpy(&v, &r, sizeof(v));
  }
  return v;
#else
  vec_t<A> v = {};
  for (int l = 0; l < Vec<A>::lanes; ++l)
    if (m[l]) v[l] = p[l];
  return v;
#endif
}

// A tile's keys read in place (not from a zero-padded band), where some lie
// outside the image: those read 0 (the spec's zero padding). The offsets'
// rows dy_lo .. dy_hi are inside, and per column offset dx the lanes
// `columns[dx]`. `sign` -1: the mirrored offsets -d_j.
template <typename A, int K>
struct Edge {
  int dy_lo = K, dy_hi = -1;
  mask_t<A> columns[K];
  // whether the tile's keys all lie inside: no Edge needed
  static bool inside(const Shape& g, index_t h, index_t ws) {
    constexpr int R = K / 2;
    return h >= R && h + R < g.H && ws >= R && ws + Vec<A>::lanes + R <= g.W;
  }
  Edge(const Shape& g, index_t h, index_t ws, int sign) {
    constexpr int R = K / 2;
    for (int dy = 0; dy < K; ++dy) {
      const index_t row = h + sign * (dy - R);
      if (row >= 0 && row < g.H) dy_lo = std::min(dy_lo, dy), dy_hi = std::max(dy_hi, dy);
    }
    for (int dx = 0; dx < K; ++dx)
      for (int l = 0; l < Vec<A>::lanes; ++l) {
        const index_t col = ws + l + sign * (dx - R);
        columns[dx][l] = col >= 0 && col < g.W ? -1 : 0;
      }
  }
};

// f(j, key_j) for the K x K keys around `centre` (rows `width` apart: a
// padded band, or in place with `edge` where some keys are outside);
// `sign` -1 takes the mirrored offsets -d_j.
template <typename A, int K, int sign = 1, bool masked = false, typename F>
inline void for_each_key(const A* centre, index_t width, const Edge<A, K>* edge, F&& f) {
  constexpr int R = K / 2;
#pragma GCC unroll 16
  for (int dy = 0; dy < K; ++dy) {
    if constexpr (masked) {
      if (dy < edge->dy_lo || dy > edge->dy_hi) continue;  // a row outside: 0
    }
    const A* row = centre + sign * (dy - R) * width;
#pragma GCC unroll 16
    for (int dx = 0; dx < K; ++dx) {
      const A* p = row + sign * (dx - R);
      if constexpr (masked) {
        f(dy * K + dx, load_masked(p, edge->columns[dx]));
      } else {
        f(dy * K + dx, load(p));
      }
    }
  }
}

// v[j] += a * key_j
template <typename A, int K, bool masked = false>
inline void add_products(vec_t<A> (&v)[K * K], const vec_t<A>& a,
                         const A* centre, index_t width,
                         const Edge<A, K>* edge = nullptr) {
  for_each_key<A, K, 1, masked>(centre, width, edge, [&](int j, const vec_t<A>& key) { v[j] += a * key; });
}

// acc + the sum over the keys of coef[j] * key_j
template <typename A, int K, int sign = 1, bool masked = false>
inline vec_t<A> weighted_keys(const vec_t<A> (&coef)[K * K], vec_t<A> acc,
                              const A* centre, index_t width,
                              const Edge<A, K>* edge = nullptr) {
  for_each_key<A, K, sign, masked>(centre, width, edge, [&](int j, const vec_t<A>& key) { acc += coef[j] * key; });
  return acc;
}

// Calls body(std::false_type) for a tile whose keys all lie inside (or come
// from a padded band), else body(std::true_type, edge): the inner loops
// compiled once for each case.
template <typename A, int K, typename F>
inline void with_edges(bool padded, const Shape& g, index_t h, index_t ws, int sign, F&& body) {
  if (padded || Edge<A, K>::inside(g, h, ws)) return body(std::false_type{}, nullptr);
  const Edge<A, K> edge(g, h, ws, sign);
  body(std::true_type{}, &edge);
}

// Where a frame's rows are read: element (c, h, w) (image coordinates) at
// base + c * plane + (h + dh) * width + w + dw: a band padded with zeros
// (dh = pad - row0, dw = pad) or the tensor itself (dh = dw = 0).
template <typename A>
struct Plane {
  const A* base;
  index_t plane, width, dh, dw;
  const A* at(index_t h, index_t w) const { return base + (h + dh) * width + w + dw; }
  static Plane band(const A* buf, const Band& b) {
    return {buf, b.plane, b.width, b.pad - b.row0, b.pad};
  }
};

// Frame t of clip n of `src` as a Plane read in place (only called where
// S is A: rows_in_place).
template <typename S, typename A>
Plane<A> in_place_plane(const S* src, const Strides& s, index_t n, index_t t) {
  if constexpr (std::is_same_v<S, A>) {
    return {src ? src + n * s.n + t * s.t : nullptr, s.c, s.h, 0, 0};
  } else {
    return {nullptr, 0, 0, 0, 0};
  }
}

// Rows per band: a task's `buffers` band buffers (0: none) about fit in
// `budget` bytes, with at least `per_thread` tasks per thread where the
// shape allows.
index_t band_rows(const Shape& g, index_t pad, int buffers, index_t frames,
                  index_t budget = 512 * 1024, index_t per_thread = 4) {
  const index_t row_bytes = std::max<index_t>(g.C * (g.W + 2 * pad) * 4 * buffers, 1);
  index_t rows = std::max<index_t>(1, budget / row_bytes - 2 * pad);
  const index_t tasks = per_thread * at::get_num_threads();
  const index_t per_frame = (tasks + g.N * frames - 1) / std::max<index_t>(g.N * frames, 1);
  rows = std::min(rows, std::max<index_t>(1, g.H / per_frame));
  return std::min(rows, std::max<index_t>(g.H, 1));
}

// Working memory of the calling thread, kept between calls (a fresh
// allocation of a few MiB per call costs its page faults every call):
// `slot` names a buffer, grown to `size` elements as needed. Its slack is
// zeroed once; the bands written into it are rewritten whole.
template <typename A>
A* thread_buffer(int slot, index_t size) {
  static thread_local std::vector<A> buffers[5];
  std::vector<A>& buffer = buffers[slot];
  if (static_cast<index_t>(buffer.size()) < size) buffer.resize(size, A(0));
  return buffer.data();
}

// `count` band buffers of a thread, each with two rows and a tile of slack
// (a row's last tile reads past the band's end).
template <typename A>
struct Scratch {
  A* data;
  index_t size;
  Scratch(const Shape& g, index_t rows, index_t pad, int count, int slot) {
    const Band b(g, 0, rows, pad);
    size = g.C * b.plane + 2 * b.width + 2 * Vec<A>::lanes;
    data = thread_buffer<A>(slot, size * count);
  }
  A* operator[](int i) { return data + i * size; }
};

// ---------------------------------------------------------------- forward --

// Rows read or written in place of a band copy: tensors in the
// accumulation type whose rows have unit stride and are at least a tile
// wide. A row's last tile then starts at W - L, overlapping the one before
// it, whose pixels it computes again to the same values (tile_start).
template <typename S, typename A>
bool rows_in_place(const Shape& g, std::initializer_list<index_t> w_strides) {
  if (!std::is_same_v<S, A> || g.W < Vec<A>::lanes) return false;
  for (index_t s : w_strides)
    if (s != 1) return false;
  return true;
}

template <typename A>
inline index_t tile_start(bool in_place, index_t w0, index_t W) {
  return in_place ? std::min<index_t>(w0, W - Vec<A>::lanes) : w0;
}

template <typename S, typename A, int K>
void forward(const S* x, const Strides& sx, S* y, const Strides& sy,
             A* corr, const Strides& sr, const Shape& g) {
  using vec = vec_t<A>;
  constexpr int R = K / 2, K2 = K * K, L = Vec<A>::lanes;
  // x (queries and keys) and y in place, else through bands
  const bool in_place = rows_in_place<S, A>(g, {sx.w, sy.w});
  const index_t rows = band_rows(g, R, 2, g.T);
  const index_t bands = (g.H + rows - 1) / rows;
  at::parallel_for(0, g.N * g.T * bands, 1, [&](index_t begin, index_t end) {
    Scratch<A> scratch(g, rows, R, in_place ? 0 : 2, 0);  // none in place
    A* query = scratch[0];  // frame t; y over it
    A* keys = scratch[1];   // frame t+1, padded
    for (index_t task = begin; task < end; ++task) {
      const index_t n = task / (g.T * bands), t = task / bands % g.T;
      const index_t row0 = task % bands * rows;
      const Band qb(g, row0, std::min(rows, g.H - row0), 0);
      const Band kb(g, row0, qb.rows, R);
      A* cr = corr + n * sr.n + t * sr.t;
      // the queries (read) and y (written): (pointer at row0, channel
      // stride, row stride)
      const A* in = query;
      A* out = query;
      index_t in_c = qb.plane, in_h = qb.width, out_c = qb.plane, out_h = qb.width;
      if constexpr (std::is_same_v<S, A>) {
        if (in_place) {
          in = x + n * sx.n + t * sx.t + row0 * sx.h;
          out = y + n * sy.n + t * sy.t + row0 * sy.h;
          in_c = sx.c, in_h = sx.h, out_c = sy.c, out_h = sy.h;
        }
      }
      if (!in_place) load_band(x, sx, g, n, t, qb, query);
      if (t == g.T - 1) {  // no next frame: y = x, corr = 0
        if (in_place) {
          for (index_t c = 0; c < g.C; ++c)
            for (index_t i = 0; i < qb.rows; ++i)
              std::copy(in + c * in_c + i * in_h, in + c * in_c + i * in_h + g.W,
                        out + c * out_c + i * out_h);
        } else {
          store_band(query, y, sy, g, n, t, qb);
        }
        for (int j = 0; j < K2; ++j)
          for (index_t h = row0; h < row0 + qb.rows; ++h)
            for (index_t w = 0; w < g.W; ++w) cr[j * sr.c + h * sr.h + w * sr.w] = 0;
        continue;
      }
      // the keys: frame t+1 in place, or its padded band
      const Plane<A> kp = in_place ? in_place_plane<S, A>(x, sx, n, t + 1) : Plane<A>::band(keys, kb);
      if (!in_place) load_band(x, sx, g, n, t + 1, kb, keys);
      for (index_t i = 0; i < qb.rows; ++i) {
        const index_t h = row0 + i;
        for (index_t w0 = 0; w0 < g.W; w0 += L) {
          const index_t ws = tile_start<A>(in_place, w0, g.W);
          const index_t lanes = std::min<index_t>(L, g.W - ws);
          const A* q = in + i * in_h + ws;
          A* o = out + i * out_h + ws;
          const A* k = kp.at(h, ws);  // the centre key
          with_edges<A, K>(!in_place, g, h, ws, 1, [&](auto masked, const Edge<A, K>* edge) {
            constexpr bool m = decltype(masked)::value;
            vec v[K2] = {};
            for (index_t c = 0; c < g.C; ++c)
              add_products<A, K, m>(v, load(q + c * in_c), k + c * kp.plane, kp.width, edge);
            A* cp = cr + h * sr.h + ws * sr.w;
#pragma GCC unroll 64
            for (int j = 0; j < K2; ++j) {
              v[j] /= static_cast<A>(g.C);  // the channel mean
              store_lanes(cp + j * sr.c, sr.w, v[j], lanes);
            }
            softmax<A, K2>(v);
            for (index_t c = 0; c < g.C; ++c)  // y = x + agg
              store(o + c * out_c, weighted_keys<A, K, 1, m>(v, load(q + c * in_c), k + c * kp.plane,
                                                             kp.width, edge));
          });
        }
      }
      if (!in_place) store_band(query, y, sy, g, n, t, qb);
    }
  });
}

// --------------------------------------------------------------- backward --
//
// Per query pixel (n, t < T-1, p), the logit gradients: from the softmax of
// the saved logits corr and grad_attn_j = sum_c grad_y[c, t, p] *
// x[c, t+1, p + d_j],
//   glogit_j = (attn_j * (grad_attn_j - sum_i attn_i grad_attn_i)
//               + grad_corr_j) / C;
// then per pixel (n, t, p') of x, a gather that writes each gradient once:
//   grad_x[c, t, p'] = grad_y[c, t, p']
//     + [t < T-1] sum_j glogit[j, t, p'] * x[c, t+1, p' + d_j]       (query)
//     + [t > 0]   sum_j glogit[j, t-1, p' - d_j] * x[c, t-1, p' - d_j]
//                       + attn[j, t-1, p' - d_j] * grad_y[c, t-1, p' - d_j]
//                                                                     (key)
// A task is a band of rows of one clip and walks its frames in order,
// keeping what the next frames read again: the logit gradients and
// attention of frames t-1 and t on the band's rows and R rows either side
// (the queries whose keys reach the band; those R rows are computed by the
// neighbouring bands too) and, where x and grad_y are not read in place,
// the bands of x of frames t-1 and t+1 (padded by 2R: the keys of the
// queries R rows beyond the band) and of grad_y of frames t-1 and t (padded
// by R), so that each is copied once.
// grad_y may be null (y unused: no residual, no value term), and so may
// grad_corr (corr unused).

// The logit gradients and attention of one frame on a band's rows and R
// rows either side, (K2, rows + 2R, W + 2R): 0 for queries outside the image.
template <typename A>
struct Logits {
  index_t pad, width, plane;
  A *glogit, *attn;
  Logits(const Shape& g, index_t rows, int K, int slot)
      : pad(K / 2), width(g.W + 2 * (K / 2)), plane((rows + 2 * (K / 2)) * width) {
    // slack: a row's last tile reads past the end
    const index_t size = K * K * plane + 2 * width + 2 * Vec<A>::lanes;
    glogit = thread_buffer<A>(slot, 2 * size);
    attn = glogit + size;
  }
  // the offset of [j=0, band row i, w]
  index_t at(index_t i, index_t w) const { return (i + pad) * width + w + pad; }
  void clear() { std::fill(glogit, attn + (attn - glogit), A(0)); }
};

template <typename S, typename A, int K>
void backward(const S* grad_y, const Strides& sg, const A* grad_corr,
              const Strides& sgc, const S* x, const Strides& sx,
              const A* corr, const Strides& sr, S* grad_x,
              const Strides& sgx, const Shape& g) {
  using vec = vec_t<A>;
  constexpr int R = K / 2, K2 = K * K, L = Vec<A>::lanes;
  // x, grad_y and grad_x in place, else through bands
  const bool in_place = rows_in_place<S, A>(g, {sx.w, grad_y ? sg.w : 1, sgx.w});
  // A task per band of a clip, one per thread where the shape allows: the
  // halo rows of the logits (and of x's bands) are computed (read) again by
  // the next band. Copied, the bands (3 of x, 2 of grad_y, the output) take
  // about an L3 cache's share.
  const index_t rows = band_rows(g, 2 * R, in_place ? 0 : 6, 1, 4 * 1024 * 1024, 1);
  const index_t bands = (g.H + rows - 1) / rows;
  at::parallel_for(0, g.N * bands, 1, [&](index_t begin, index_t end) {
    const int copies = in_place ? 0 : 1;  // band buffers: none in place
    Scratch<A> xs(g, rows, 2 * R, 3 * copies, 0);  // x of frames t-1, t, t+1 (rotating)
    Scratch<A> gs(g, rows, R, 2 * copies, 1);      // grad_y of frames t-1, t (rotating)
    Scratch<A> os(g, rows, 0, copies, 2);          // grad_x of frame t
    Logits<A> logits[2] = {Logits<A>(g, rows, K, 3), Logits<A>(g, rows, K, 4)};
    for (index_t task = begin; task < end; ++task) {
      const index_t n = task / bands, row0 = task % bands * rows;
      const index_t nrows = std::min(rows, g.H - row0);
      const Band xb(g, row0, nrows, 2 * R), gb(g, row0, nrows, R), ob(g, row0, nrows, 0);
      logits[0].clear();
      logits[1].clear();
      // frame t's band of x in slot t % 3, of grad_y in slot t % 2
      if (g.T > 1 && !in_place) load_band(x, sx, g, n, 0, xb, xs[0]);
      // frame f (from -1) of x and grad_y
      const auto x_frame = [&](index_t f) {
        return in_place ? in_place_plane<S, A>(x, sx, n, f) : Plane<A>::band(xs[(f + 3) % 3], xb);
      };
      const auto grad_frame = [&](index_t f) {
        return in_place ? in_place_plane<S, A>(grad_y, sg, n, f) : Plane<A>::band(gs[(f + 2) % 2], gb);
      };
      for (index_t t = 0; t < g.T; ++t) {
        const Plane<A> next = x_frame(t + 1), prev = x_frame(t - 1);
        const Plane<A> grads = grad_frame(t), prev_grads = grad_frame(t - 1);
        Logits<A>& lq = logits[t % 2];         // frame t's, as queries
        const Logits<A>& lk = logits[(t + 1) % 2];  // frame t-1's
        const bool as_query = t < g.T - 1, as_key = t > 0;
        if (!in_place) {
          if (grad_y) load_band(grad_y, sg, g, n, t, gb, gs[t % 2]);
          if (as_query) load_band(x, sx, g, n, t + 1, xb, xs[(t + 1) % 3]);
        }
        // Row by row, frame t's logit gradients on rows row0 - R .. row0 +
        // nrows + R and the gather on the band's rows: the gather of row i
        // reads the rows of x[t+1] and grad_y[t] that row i's logit
        // gradients just read (the R rows either side are for the next
        // frame's key terms). The gather writes grad_x in place or the
        // output band: (pointer at row0, channel stride, row stride).
        A* out = os[0];
        index_t out_c = ob.plane, out_h = ob.width;
        if constexpr (std::is_same_v<S, A>) {
          if (in_place) out = grad_x + n * sgx.n + t * sgx.t + row0 * sgx.h, out_c = sgx.c, out_h = sgx.h;
        }
        for (index_t i = -R; i < nrows + R; ++i) {
          const index_t h = row0 + i;
          for (index_t w0 = 0; as_query && h >= 0 && h < g.H && w0 < g.W; w0 += L) {
            const index_t ws = tile_start<A>(in_place, w0, g.W);
            const index_t lanes = std::min<index_t>(L, g.W - ws);
            vec ga[K2] = {};  // grad_attn
            if (grad_y) {
              const A* gr = grads.at(h, ws);
              const A* k = next.at(h, ws);
              with_edges<A, K>(!in_place, g, h, ws, 1, [&](auto masked, const Edge<A, K>* edge) {
                for (index_t c = 0; c < g.C; ++c)
                  add_products<A, K, decltype(masked)::value>(ga, load(gr + c * grads.plane),
                                                              k + c * next.plane, next.width, edge);
              });
            }
            vec a[K2];
            const A* cp = corr + n * sr.n + t * sr.t + h * sr.h + ws * sr.w;
#pragma GCC unroll 64
            for (int j = 0; j < K2; ++j) a[j] = load_lanes(cp + j * sr.c, sr.w, lanes);
            softmax<A, K2>(a);
            vec dot = {};
#pragma GCC unroll 64
            for (int j = 0; j < K2; ++j) dot += a[j] * ga[j];
            const A* gc = grad_corr ? grad_corr + n * sgc.n + t * sgc.t + h * sgc.h + ws * sgc.w : nullptr;
            const index_t o = lq.at(i, ws);
            for (int j = 0; j < K2; ++j) {
              vec gl = a[j] * (ga[j] - dot);
              if (gc) gl += load_lanes(gc + j * sgc.c, sgc.w, lanes);
              store_lanes(lq.glogit + o + j * lq.plane, 1, gl / static_cast<A>(g.C), lanes);
              store_lanes(lq.attn + o + j * lq.plane, 1, a[j], lanes);
            }
          }
          for (index_t w0 = 0; i >= 0 && i < nrows && w0 < g.W; w0 += L) {
            const index_t ws = tile_start<A>(in_place, w0, g.W);
            A* o = out + i * out_h + ws;
            // the residual, with the first term below
            const A* residual = grad_y ? grads.at(h, ws) : nullptr;
            const auto first = [&](index_t c) {
              return residual ? load(residual + c * grads.plane) : vec{};
            };
            vec coef[K2];
            if (as_query) {  // x[t+1] weighted by this pixel's logit gradients
              const A* gl = lq.glogit + lq.at(i, ws);
#pragma GCC unroll 64
              for (int j = 0; j < K2; ++j) coef[j] = load(gl + j * lq.plane);
              const A* k = next.at(h, ws);
              with_edges<A, K>(!in_place, g, h, ws, 1, [&](auto masked, const Edge<A, K>* edge) {
                for (index_t c = 0; c < g.C; ++c)
                  store(o + c * out_c, weighted_keys<A, K, 1, decltype(masked)::value>(
                                           coef, first(c), k + c * next.plane, next.width, edge));
              });
            } else {
              for (index_t c = 0; c < g.C; ++c) store(o + c * out_c, first(c));
            }
            if (!as_key) continue;
            // as the key j of the query p' - d_j of frame t-1: x[t-1]
            // weighted by that query's logit gradients, grad_y[t-1] by its
            // attention
            const std::pair<const A*, const Plane<A>*> terms[] = {
                {lk.glogit, &prev}, {grad_y ? lk.attn : nullptr, &prev_grads}};
            with_edges<A, K>(!in_place, g, h, ws, -1, [&](auto masked, const Edge<A, K>* edge) {
              for (const auto& [weights, source] : terms) {
                if (!weights) continue;
                const A* wk = weights + lk.at(i, ws);
#pragma GCC unroll 64
                for (int j = 0; j < K2; ++j)
                  coef[j] = load(wk + j * lk.plane - (j / K - R) * lk.width - (j % K - R));
                const A* src = source->at(h, ws);
                for (index_t c = 0; c < g.C; ++c)
                  store(o + c * out_c, weighted_keys<A, K, -1, decltype(masked)::value>(
                                           coef, load(o + c * out_c), src + c * source->plane,
                                           source->width, edge));
              }
            });
          }
        }
        if (!in_place) store_band(os[0], grad_x, sgx, g, n, t, ob);
      }
    }
  });
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
