// DTF's spectral modulation on the CPU, fused: f' = iDFT(DFT(y) * H) over
// time (DTF_SPEC.md section 2), and its gradients.
//
// Built on first use by mmdtf.ops.spectral_modulation_cpu through
// mmdtf.ops.cpu_extension and called through ctypes with data pointers and
// element strides; the tensors (and the DFT matrices, from
// mmdtf/models/blocks/spectral_transforms.py) are allocated by the caller.
// The functions return 0, or nonzero with a message from
// mmdtf_sm_last_error().
//
// The PyTorch path makes a pass over the feature per step (the forward
// DFT's matrix product, four real products for the complex one, two
// inverse products and their sum); here each pixel's T values are read
// once and its T outputs written once, the modulation applied as the real
// T x T operator it is at that pixel (see forward): one read of y and one
// write of f' (the backward: one read of the gradient and of y, one write
// of y's gradient and of the filter's).
//
// block_tail (below) is a DTF block's whole output after FA without
// autograd: the rms of y, the estimated filter, the modulation and the
// residual x + gamma f' + beta, with f' never stored.
//
// Work: at::parallel_for over (n, filter group, row of pixels, chunk of
// vectors); the inner loops run over one vector of consecutive pixels (GCC
// vector extensions); a vector past the row's end computes lanes that are
// never stored. The channels of a group share the filter, loaded once per
// vector, and in the backward sum its gradient, so no two tasks write the
// same element and results do not depend on the number of threads.
//
// Shapes: y (N, C, T, H, W); the filter parts (N, groups, M, H, W) with
// M = T / 2 + 1, in the accumulation type A (float, or double for double);
// the forward DFT matrices (M, T) real then imaginary, the inverse (T, M)
// real then imaginary, contiguous, in A.

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
#include <vector>

namespace {

using index_t = int64_t;

enum DType { kFloat32 = 0, kFloat64 = 1, kBFloat16 = 2, kFloat16 = 3 };

constexpr int MAX_T = 64;  // frames (the caller checks)

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

// The DFT matrices: forward (M, T), inverse (T, M), each real then imaginary.
template <typename A>
struct Dft {
  const A *fr, *fi, *ir, *ii;
  Dft(const A* fwd, const A* inv, index_t T)
      : fr(fwd), fi(fwd + (T / 2 + 1) * T), ir(inv), ii(inv + T * (T / 2 + 1)) {}
};

// A tile: consecutive pixels in one vector (GCC/Clang vector extensions:
// AVX registers in an avx2 build, SSE pairs otherwise).
template <typename A>
struct Vec {
  typedef A type __attribute__((vector_size(32)));
  // the same at any element's address: one unaligned load or store (a
  // memcpy into an array went through the stack in halves, and the
  // vector's load from it waited on them)
  typedef A unaligned __attribute__((vector_size(32), aligned(sizeof(A)), may_alias));
  static constexpr int lanes = 32 / sizeof(A);
};
template <typename A>
using vec_t = typename Vec<A>::type;

// v[t] = the tile's lanes of src + t * st (pixels `sp` apart), 0 beyond
// `lanes`, in the accumulation type.
template <typename S, typename A>
inline void load_tile(const S* src, index_t st, index_t sp, index_t T, int lanes, vec_t<A>* v) {
  for (index_t t = 0; t < T; ++t) {
    const S* p = src + t * st;
    if constexpr (std::is_same<S, A>::value) {
      if (sp == 1 && lanes == Vec<A>::lanes) {
        v[t] = *reinterpret_cast<const typename Vec<A>::unaligned*>(p);
        continue;
      }
    }
    {
      vec_t<A> x = {};
      for (int l = 0; l < lanes; ++l) x[l] = static_cast<A>(p[l * sp]);
      v[t] = x;
    }
  }
}

template <typename S, typename A>
inline void store_tile(const vec_t<A>* v, S* dst, index_t st, index_t sp, index_t T, int lanes) {
  for (index_t t = 0; t < T; ++t) {
    S* p = dst + t * st;
    if constexpr (std::is_same<S, A>::value) {
      if (sp == 1 && lanes == Vec<A>::lanes) {
        *reinterpret_cast<typename Vec<A>::unaligned*>(p) = v[t];
        continue;
      }
    }
    {
      for (int l = 0; l < lanes; ++l) p[l * sp] = static_cast<S>(v[t][l]);
    }
  }
}

// The pixels of a frame as rows of `cols` pixels `col` elements apart:
// one row of H * W pixels where every tensor's rows follow each other
// (h stride = W * w stride: ResNetDTF's frames, SwinDTF's tokens,
// contiguous), else H rows of W. `at(h, w)` is the offset of pixel (h, w).
struct Plane {
  index_t rows, cols;
  bool flat;
  Plane(const Shape& g, std::initializer_list<const Strides*> all) {
    flat = true;
    for (const Strides* s : all) flat = flat && s->h == g.W * s->w;
    rows = flat ? 1 : g.H;
    cols = flat ? g.H * g.W : g.W;
  }
  index_t at(const Strides& s, index_t row, index_t col) const {
    return flat ? col * s.w : row * s.h + col * s.w;
  }
};

// Runs f(n, group, row, col0, lanes) for every tile, in parallel over
// (n, group, row, chunk of tiles).
template <typename A, typename F>
void for_each_tile(const Shape& g, index_t groups, const Plane& plane, F&& f) {
  constexpr int L = Vec<A>::lanes;
  const index_t tiles = (plane.cols + L - 1) / L;
  const index_t per_task = std::max<index_t>(1, std::min<index_t>(tiles, 4096 / L));
  const index_t chunks = (tiles + per_task - 1) / per_task;
  at::parallel_for(0, g.N * groups * plane.rows * chunks, 1, [&](index_t begin, index_t end) {
    for (index_t task = begin; task < end; ++task) {
      const index_t chunk = task % chunks, row = task / chunks % plane.rows;
      const index_t grp = task / (chunks * plane.rows) % groups;
      const index_t n = task / (chunks * plane.rows * groups);
      const index_t last = std::min(tiles, (chunk + 1) * per_task);
      for (index_t tile = chunk * per_task; tile < last; ++tile)
        f(n, grp, row, tile * L, static_cast<int>(std::min<index_t>(L, plane.cols - tile * L)));
    }
  });
}

// ---------------------------------------------------------------- forward --

// The modulation is linear in y: at each pixel, f'[t] = sum over t' of
// K[t][t'] y[t'], with the real T x T operator K = Re(I diag(H) F), where
//   K[t][t'] = sum over m of a[t][t'][m] H_r[m] + b[t][t'][m] H_i[m],
//   a = I_r[t][m] F_r[m][t'] + I_i[t][m] F_i[m][t'],
//   b = I_i[t][m] F_r[m][t'] - I_r[t][m] F_i[m][t'].
// K is built once per tile from the filter its group shares (2 M T^2
// products), then costs T^2 products per channel, where transforming
// there and back costs 4 M T and the complex product 6 M.
template <typename A>
std::vector<A> operator_coefficients(const Dft<A>& dft, index_t T) {
  const index_t M = T / 2 + 1;
  std::vector<A> coef(2 * T * T * M);  // a, then b: [(t * T + t') * M + m]
  for (index_t t = 0; t < T; ++t)
    for (index_t u = 0; u < T; ++u)
      for (index_t m = 0; m < M; ++m) {
        const A ir = dft.ir[t * M + m], ii = dft.ii[t * M + m];
        const A fr = dft.fr[m * T + u], fi = dft.fi[m * T + u];
        coef[(t * T + u) * M + m] = ir * fr + ii * fi;
        coef[T * T * M + (t * T + u) * M + m] = ii * fr - ir * fi;
      }
  return coef;
}

// TC: the number of frames where it is a compile-time constant (the loops
// over frames unroll), else 0; the stack arrays' sizes.
template <int TC>
struct Frames {
  static constexpr int max = TC ? TC : MAX_T;
  static constexpr int bins = max / 2 + 1;
};

// K for one vector of pixels from its filter's parts (M bins each),
// K[e] = the sum over m of ca[e][m] H_r[m] + cb[e][m] H_i[m].
template <typename A>
inline void operator_from(const vec_t<A>* filt_r, const vec_t<A>* filt_i, index_t T, const A* ca,
                          const A* cb, vec_t<A>* K) {
  using vec = vec_t<A>;
  const index_t M = T / 2 + 1;
  for (index_t e = 0; e < T * T; ++e) {
    vec k = {};
    for (index_t m = 0; m < M; ++m)
      k += (vec{} + ca[e * M + m]) * filt_r[m] + (vec{} + cb[e * M + m]) * filt_i[m];
    K[e] = k;
  }
}

// K for one vector of pixels: the filter at `offset` of both parts (bins
// `sh.t` apart).
template <typename A, int TC>
inline void build_operator(const A* hr, const A* hi, index_t offset, const Strides& sh, index_t T,
                           int lanes, const A* ca, const A* cb, vec_t<A>* K) {
  const index_t M = T / 2 + 1;
  vec_t<A> filt_r[Frames<TC>::bins], filt_i[Frames<TC>::bins];
  load_tile<A, A>(hr + offset, sh.t, sh.w, M, lanes, filt_r);
  load_tile<A, A>(hi + offset, sh.t, sh.w, M, lanes, filt_i);
  operator_from<A>(filt_r, filt_i, T, ca, cb, K);
}

template <typename S, typename A, int TC>
void forward(const S* y, const Strides& sy, const A* hr, const A* hi, const Strides& sh,
             const Dft<A>& dft, S* out, const Strides& so, const Shape& g, index_t groups) {
  using vec = vec_t<A>;
  const index_t shared = g.C / groups;
  const std::vector<A> coef = operator_coefficients(dft, g.T);
  const A *ca = coef.data(), *cb = ca + g.T * g.T * (g.T / 2 + 1);
  const Plane plane(g, {&sy, &sh, &so});
  for_each_tile<A>(g, groups, plane, [&](index_t n, index_t grp, index_t row, index_t col, int lanes) {
    // (not captured: a compile-time TC then folds into every loop bound)
    const index_t T = TC ? TC : g.T;
    vec x[Frames<TC>::max], K[Frames<TC>::max * Frames<TC>::max];
    build_operator<A, TC>(hr, hi, n * sh.n + grp * sh.c + plane.at(sh, row, col), sh, T, lanes,
                          ca, cb, K);
    for (index_t c = grp * shared; c < (grp + 1) * shared; ++c) {
      load_tile<S, A>(y + n * sy.n + c * sy.c + plane.at(sy, row, col), sy.t, sy.w, T, lanes, x);
      vec o[Frames<TC>::max];
      for (index_t t = 0; t < T; ++t) {
        vec acc = {};
        for (index_t u = 0; u < T; ++u) acc += K[t * T + u] * x[u];
        o[t] = acc;
      }
      store_tile<S, A>(o, out + n * so.n + c * so.c + plane.at(so, row, col), so.t, so.w, T, lanes);
    }
  });
}

// --------------------------------------------------------------- backward --
//
// With f'[t] = sum over t' of K[t][t'] y[t'] (above), the gradient g of f'
// gives g_y[t'] = sum over t of K[t][t'] g[t], g_K[t][t'] = the sum over
// the group's channels of g[t] y[t'], and g_H_r[m] = sum over (t, t') of
// a[t][t'][m] g_K[t][t'] (b for g_H_i).

template <typename S, typename A, int TC>
void backward(const S* grad, const Strides& sg, const S* y, const Strides& sy, const A* hr,
              const A* hi, const Strides& sh, const Dft<A>& dft, S* grad_y, const Strides& sgy,
              A* grad_hr, A* grad_hi, const Strides& sgh, const Shape& g, index_t groups) {
  using vec = vec_t<A>;
  const index_t shared = g.C / groups;
  const std::vector<A> coef = operator_coefficients(dft, g.T);
  const A *ca = coef.data(), *cb = ca + g.T * g.T * (g.T / 2 + 1);
  const Plane plane(g, {&sg, &sy, &sh, &sgy, &sgh});
  for_each_tile<A>(g, groups, plane, [&](index_t n, index_t grp, index_t row, index_t col, int lanes) {
    const index_t T = TC ? TC : g.T, M = T / 2 + 1;
    vec gv[Frames<TC>::max], x[Frames<TC>::max];
    vec K[Frames<TC>::max * Frames<TC>::max], grad_k[Frames<TC>::max * Frames<TC>::max];
    build_operator<A, TC>(hr, hi, n * sh.n + grp * sh.c + plane.at(sh, row, col), sh, T, lanes,
                          ca, cb, K);
    for (index_t e = 0; e < T * T; ++e) grad_k[e] = vec{};
    for (index_t c = grp * shared; c < (grp + 1) * shared; ++c) {
      load_tile<S, A>(grad + n * sg.n + c * sg.c + plane.at(sg, row, col), sg.t, sg.w, T, lanes, gv);
      load_tile<S, A>(y + n * sy.n + c * sy.c + plane.at(sy, row, col), sy.t, sy.w, T, lanes, x);
      for (index_t u = 0; u < T; ++u) {
        vec acc = {};
        for (index_t t = 0; t < T; ++t) {
          acc += K[t * T + u] * gv[t];
          grad_k[t * T + u] += gv[t] * x[u];
        }
        x[u] = acc;  // y's gradient (x[u] is read above only)
      }
      store_tile<S, A>(x, grad_y + n * sgy.n + c * sgy.c + plane.at(sgy, row, col), sgy.t, sgy.w,
                       T, lanes);
    }
    vec gh_r[Frames<TC>::bins] = {}, gh_i[Frames<TC>::bins] = {};
    for (index_t e = 0; e < T * T; ++e)
      for (index_t m = 0; m < M; ++m) {
        gh_r[m] += (vec{} + ca[e * M + m]) * grad_k[e];
        gh_i[m] += (vec{} + cb[e * M + m]) * grad_k[e];
      }
    const index_t go = n * sgh.n + grp * sgh.c + plane.at(sgh, row, col);
    store_tile<A, A>(gh_r, grad_hr + go, sgh.t, sgh.w, M, lanes);
    store_tile<A, A>(gh_i, grad_hi + go, sgh.t, sgh.w, M, lanes);
  });
}

// ------------------------------------------------------ the block's tail --
//
// A DTF block's output without autograd (mmdtf/models/blocks/fused_tail.py),
// from the estimator's convolution split in its part from y (a) and from
// corr (b), neither scaled nor biased: at each pixel the filter is
// r a + r^2 b + bias, with r = (mean over (C, T) of y^2 + eps)^-1/2 (1
// without the rms scaling), and the output x + gamma f' + beta. A tile reads
// its pixels' C x T values of y twice, for r and for f', the second time from
// cache; the filter parts are then only read, and f' is never stored.

template <typename A>
struct Tail {
  const A *a_r, *a_i, *b_r, *b_i;  // (N, groups, M, H, W); b null without corr
  const A *bias_r, *bias_i;        // (groups, M) contiguous, or null
  bool rms;
  A eps;
  const A *gamma, *beta;  // (C,)
};

template <typename S, typename A, int TC>
void block_tail(const S* y, const Strides& sy, const Tail<A>& tail, const Strides& sh,
                const Dft<A>& dft, const S* x, const Strides& sx, S* out, const Strides& so,
                const Shape& g, index_t groups) {
  using vec = vec_t<A>;
  constexpr int L = Vec<A>::lanes;
  const index_t shared = g.C / groups;
  const std::vector<A> coef = operator_coefficients(dft, g.T);
  const A *ca = coef.data(), *cb = ca + g.T * g.T * (g.T / 2 + 1);
  const Plane plane(g, {&sy, &sh, &sx, &so});
  // Tasks over (n, row, chunk of tiles), every loop over a chunk's tiles
  // innermost (sequential streams along rows): a chunk's C x T rows of y
  // are read whole for the rms, then per group its tiles' operators are
  // built (kept in L1) and its channels' rows of y and x read and of the
  // output written, y from the L2 cache where the chunk fits half of it;
  // chunks smaller where that makes fewer than four tasks per thread (with
  // more than one: smaller chunks cost a sequential stream's length).
  const index_t tiles = (plane.cols + L - 1) / L;
  const index_t tile_bytes = L * static_cast<index_t>(sizeof(S)) * g.C * g.T;
  const index_t operator_bytes = static_cast<index_t>(sizeof(vec)) * g.T * g.T;
  index_t per_task = std::max<index_t>(
      1, std::min<index_t>({tiles, (512 << 10) / tile_bytes, (32 << 10) / operator_bytes}));
  const int threads = at::get_num_threads();
  const index_t wanted = threads > 1 ? 4 * threads : 1, others = g.N * plane.rows;
  if (others * ((tiles + per_task - 1) / per_task) < wanted)
    per_task = std::max<index_t>(1, others * tiles / wanted);
  const index_t chunks = (tiles + per_task - 1) / per_task;
  at::parallel_for(0, others * chunks, 1, [&](index_t begin, index_t end) {
    const index_t T = TC ? TC : g.T, M = T / 2 + 1;
    std::vector<vec> r(per_task), K(per_task * T * T);  // K: each tile's operator
    vec v[Frames<TC>::max];
    for (index_t task = begin; task < end; ++task) {
      const index_t n = task / (chunks * plane.rows), row = task / chunks % plane.rows;
      const index_t first = task % chunks * per_task;
      const index_t count = std::min(tiles, first + per_task) - first;
      auto lanes_of = [&](index_t k) {
        return static_cast<int>(std::min<index_t>(L, plane.cols - (first + k) * L));
      };
      const S* yp = y + n * sy.n + plane.at(sy, row, first * L);
      for (index_t k = 0; k < count; ++k) r[k] = tail.rms ? vec{} : vec{} + A(1);
      if (tail.rms) {  // r: the sum of squares, then its inverse rms
        for (index_t c = 0; c < g.C; ++c)
          for (index_t t = 0; t < T; ++t) {
            const S* src = yp + c * sy.c + t * sy.t;
            for (index_t k = 0; k < count; ++k) {
              load_tile<S, A>(src + k * L * sy.w, 0, sy.w, 1, lanes_of(k), v);
              r[k] += v[0] * v[0];
            }
          }
        for (index_t k = 0; k < count; ++k)
          for (int l = 0; l < L; ++l)
            r[k][l] = A(1) / std::sqrt(r[k][l] / static_cast<A>(g.C * T) + tail.eps);
      }
      for (index_t grp = 0; grp < groups; ++grp) {
        for (index_t k = 0; k < count; ++k) {
          const index_t fo = n * sh.n + grp * sh.c + plane.at(sh, row, (first + k) * L);
          const int lanes = lanes_of(k);
          vec fr[Frames<TC>::bins], fi[Frames<TC>::bins], br[Frames<TC>::bins],
              bi[Frames<TC>::bins];
          load_tile<A, A>(tail.a_r + fo, sh.t, sh.w, M, lanes, fr);
          load_tile<A, A>(tail.a_i + fo, sh.t, sh.w, M, lanes, fi);
          if (tail.b_r) {
            load_tile<A, A>(tail.b_r + fo, sh.t, sh.w, M, lanes, br);
            load_tile<A, A>(tail.b_i + fo, sh.t, sh.w, M, lanes, bi);
          }
          const vec r2 = r[k] * r[k];
          for (index_t m = 0; m < M; ++m) {
            fr[m] *= r[k];
            fi[m] *= r[k];
            if (tail.b_r) {
              fr[m] += r2 * br[m];
              fi[m] += r2 * bi[m];
            }
            if (tail.bias_r) {
              fr[m] += tail.bias_r[grp * M + m];
              fi[m] += tail.bias_i[grp * M + m];
            }
          }
          operator_from<A>(fr, fi, T, ca, cb, &K[k * T * T]);
        }
        for (index_t c = grp * shared; c < (grp + 1) * shared; ++c) {
          const S* yc = y + n * sy.n + c * sy.c + plane.at(sy, row, first * L);
          const S* xc = x + n * sx.n + c * sx.c + plane.at(sx, row, first * L);
          S* oc = out + n * so.n + c * so.c + plane.at(so, row, first * L);
          for (index_t k = 0; k < count; ++k) {
            const int lanes = lanes_of(k);
            const vec* Kk = &K[k * T * T];
            load_tile<S, A>(yc + k * L * sy.w, sy.t, sy.w, T, lanes, v);
            vec o[Frames<TC>::max];
            for (index_t t = 0; t < T; ++t) {
              vec acc = {};
              for (index_t u = 0; u < T; ++u) acc += Kk[t * T + u] * v[u];
              o[t] = acc;
            }
            load_tile<S, A>(xc + k * L * sx.w, sx.t, sx.w, T, lanes, v);
            for (index_t t = 0; t < T; ++t) o[t] = v[t] + tail.gamma[c] * o[t] + tail.beta[c];
            store_tile<S, A>(o, oc + k * L * so.w, so.t, so.w, T, lanes);
          }
        }
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

// The clip lengths DTF's backbones use at their blocks, unrolled; any other
// runs the same code with the length at run time.
#define MMDTF_SM_DISPATCH_T(...)                                                 \
  switch (g.T) {                                                                  \
    case 2: { constexpr int TC = 2; return guarded([&] { __VA_ARGS__; }); }       \
    case 4: { constexpr int TC = 4; return guarded([&] { __VA_ARGS__; }); }       \
    case 8: { constexpr int TC = 8; return guarded([&] { __VA_ARGS__; }); }       \
    case 16: { constexpr int TC = 16; return guarded([&] { __VA_ARGS__; }); }     \
    default: { constexpr int TC = 0; return guarded([&] { __VA_ARGS__; }); }      \
  }

#define MMDTF_SM_DISPATCH(...)                                                              \
  if (g.T < 1 || g.T > MAX_T) {                                                             \
    last_error() = std::to_string(g.T) + " frames: the kernel is built for 1.." +           \
                   std::to_string(MAX_T);                                                   \
    return 2;                                                                               \
  }                                                                                         \
  if (groups < 1 || g.C % groups) {                                                         \
    last_error() = std::to_string(g.C) + " channels in " + std::to_string(groups) + " groups"; \
    return 2;                                                                               \
  }                                                                                         \
  switch (dtype) {                                                                          \
    case kFloat32: { using S = float; using A = float; MMDTF_SM_DISPATCH_T(__VA_ARGS__) }    \
    case kFloat64: { using S = double; using A = double; MMDTF_SM_DISPATCH_T(__VA_ARGS__) }  \
    case kBFloat16: { using S = c10::BFloat16; using A = float; MMDTF_SM_DISPATCH_T(__VA_ARGS__) } \
    case kFloat16: { using S = c10::Half; using A = float; MMDTF_SM_DISPATCH_T(__VA_ARGS__) } \
  }                                                                                         \
  last_error() = "dtype code " + std::to_string(dtype) + " is not built";                  \
  return 2;

}  // namespace

extern "C" {

const char* mmdtf_sm_last_error() { return last_error().c_str(); }

// y and out (N, C, T, H, W) in dtype; the filter parts (N, groups, M, H, W)
// (strides as n, group, bin, h, w) and the DFT matrices in the
// accumulation type.
int mmdtf_sm_forward(int dtype, const int64_t* shape, int64_t groups, const void* y,
                     const int64_t* y_strides, const void* filt_real, const void* filt_imag,
                     const int64_t* filt_strides, const void* fwd, const void* inv, void* out,
                     const int64_t* out_strides) {
  const Shape g{shape[0], shape[1], shape[2], shape[3], shape[4]};
  const Strides sy(y_strides), sh(filt_strides), so(out_strides);
  MMDTF_SM_DISPATCH(forward<S, A, TC>(static_cast<const S*>(y), sy, static_cast<const A*>(filt_real),
                                  static_cast<const A*>(filt_imag), sh,
                                  Dft<A>(static_cast<const A*>(fwd), static_cast<const A*>(inv), g.T),
                                  static_cast<S*>(out), so, g, groups))
}

// y, x and out (N, C, T, H, W) in dtype; the filter's parts from y (a) and
// corr (b, or null), its bias (groups, M) per part (or null), gamma and beta
// (C,) and the DFT matrices in the accumulation type.
int mmdtf_sm_block_tail(int dtype, const int64_t* shape, int64_t groups, const void* y,
                        const int64_t* y_strides, const void* a_real, const void* a_imag,
                        const void* b_real, const void* b_imag, const int64_t* filt_strides,
                        const void* bias_real, const void* bias_imag, int rms, double eps,
                        const void* fwd, const void* inv, const void* x,
                        const int64_t* x_strides, const void* gamma, const void* beta, void* out,
                        const int64_t* out_strides) {
  const Shape g{shape[0], shape[1], shape[2], shape[3], shape[4]};
  const Strides sy(y_strides), sh(filt_strides), sx(x_strides), so(out_strides);
  MMDTF_SM_DISPATCH({
    const Tail<A> tail{static_cast<const A*>(a_real), static_cast<const A*>(a_imag),
                       static_cast<const A*>(b_real), static_cast<const A*>(b_imag),
                       static_cast<const A*>(bias_real), static_cast<const A*>(bias_imag),
                       rms != 0, static_cast<A>(eps), static_cast<const A*>(gamma),
                       static_cast<const A*>(beta)};
    block_tail<S, A, TC>(static_cast<const S*>(y), sy, tail, sh,
                         Dft<A>(static_cast<const A*>(fwd), static_cast<const A*>(inv), g.T),
                         static_cast<const S*>(x), sx, static_cast<S*>(out), so, g, groups);
  })
}

// grad, y and grad_y in dtype; the filter parts and their gradients (one
// set of strides for both gradient parts) in the accumulation type.
int mmdtf_sm_backward(int dtype, const int64_t* shape, int64_t groups, const void* grad,
                      const int64_t* grad_strides, const void* y, const int64_t* y_strides,
                      const void* filt_real, const void* filt_imag, const int64_t* filt_strides,
                      const void* fwd, const void* inv, void* grad_y,
                      const int64_t* grad_y_strides, void* grad_filt_real, void* grad_filt_imag,
                      const int64_t* grad_filt_strides) {
  const Shape g{shape[0], shape[1], shape[2], shape[3], shape[4]};
  const Strides sg(grad_strides), sy(y_strides), sh(filt_strides), sgy(grad_y_strides),
      sgh(grad_filt_strides);
  MMDTF_SM_DISPATCH(backward<S, A, TC>(
      static_cast<const S*>(grad), sg, static_cast<const S*>(y), sy,
      static_cast<const A*>(filt_real), static_cast<const A*>(filt_imag), sh,
      Dft<A>(static_cast<const A*>(fwd), static_cast<const A*>(inv), g.T),
      static_cast<S*>(grad_y), sgy, static_cast<A*>(grad_filt_real),
      static_cast<A*>(grad_filt_imag), sgh, g, groups))
}

}  // extern "C"
