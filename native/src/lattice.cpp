#include "lattice.h"
#include "omp_team.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace wsss {

namespace {

// Lattice coordinates are packed 3 per 64-bit word, 21 bits each, biased so that a field is never
// negative; the margin keeps neighbour arithmetic (+-(d+1)) from borrowing across fields.
constexpr int kFieldBits = 21;
constexpr int64_t kFieldBias = int64_t(1) << 20;
constexpr int64_t kFieldLimit = kFieldBias - 64;

inline int field_shift(int i) { return kFieldBits * (i % 3); }

inline uint64_t hash_key(uint64_t a, uint64_t b) {
    uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h;
}

template <int V>
inline void scatter_point(int64_t p, int d1, const int32_t* off, const float* w, const float* in, int cp, int c0,
                          float* values) {
    const float* src = in + p * cp + c0;
    __m128 x[V];
    for (int k = 0; k < V; ++k) x[k] = _mm_loadu_ps(src + 4 * k);
    const int32_t* o = off + p * d1;
    const float* ws = w + p * d1;
    for (int j = 0; j < d1; ++j) {
        float* dst = values + (int64_t)o[j] * cp + c0;
        const __m128 ww = _mm_set1_ps(ws[j]);
        for (int k = 0; k < V; ++k)
            _mm_storeu_ps(dst + 4 * k, _mm_add_ps(_mm_loadu_ps(dst + 4 * k), _mm_mul_ps(ww, x[k])));
    }
}

inline void scatter_point_any(int64_t p, int d1, const int32_t* off, const float* w, const float* in, int cp,
                              float* values) {
    int c0 = 0;
    for (; c0 + 24 <= cp; c0 += 24) scatter_point<6>(p, d1, off, w, in, cp, c0, values);
    switch ((cp - c0) >> 2) {
        case 1:
            scatter_point<1>(p, d1, off, w, in, cp, c0, values);
            break;
        case 2:
            scatter_point<2>(p, d1, off, w, in, cp, c0, values);
            break;
        case 3:
            scatter_point<3>(p, d1, off, w, in, cp, c0, values);
            break;
        case 4:
            scatter_point<4>(p, d1, off, w, in, cp, c0, values);
            break;
        case 5:
            scatter_point<5>(p, d1, off, w, in, cp, c0, values);
            break;
        default:
            break;
    }
}

template <int V>
inline void slice_row(const int32_t* o, const float* ws, int d1, __m128 scale, const float* values, int cp, int c0,
                      float* dst, const float* add) {
    __m128 acc[V];
    for (int k = 0; k < V; ++k) acc[k] = _mm_setzero_ps();
    for (int j = 0; j < d1; ++j) {
        const float* src = values + (int64_t)o[j] * cp + c0;
        const __m128 ww = _mm_set1_ps(ws[j]);
        for (int k = 0; k < V; ++k) acc[k] = _mm_add_ps(acc[k], _mm_mul_ps(ww, _mm_loadu_ps(src + 4 * k)));
    }
    dst += c0;
    if (add != nullptr) {
        add += c0;
        for (int k = 0; k < V; ++k)
            _mm_storeu_ps(dst + 4 * k, _mm_add_ps(_mm_loadu_ps(add + 4 * k), _mm_mul_ps(acc[k], scale)));
    } else {
        for (int k = 0; k < V; ++k) _mm_storeu_ps(dst + 4 * k, _mm_mul_ps(acc[k], scale));
    }
}

// dst (one point's cp channels) = add (or 0) + scale * sum_j ws[j] * values[o[j]].
inline void slice_row_any(const int32_t* o, const float* ws, int d1, __m128 scale, const float* values, int cp,
                          float* dst, const float* add) {
    int c0 = 0;
    for (; c0 + 24 <= cp; c0 += 24) slice_row<6>(o, ws, d1, scale, values, cp, c0, dst, add);
    switch ((cp - c0) >> 2) {
        case 1:
            slice_row<1>(o, ws, d1, scale, values, cp, c0, dst, add);
            break;
        case 2:
            slice_row<2>(o, ws, d1, scale, values, cp, c0, dst, add);
            break;
        case 3:
            slice_row<3>(o, ws, d1, scale, values, cp, c0, dst, add);
            break;
        case 4:
            slice_row<4>(o, ws, d1, scale, values, cp, c0, dst, add);
            break;
        case 5:
            slice_row<5>(o, ws, d1, scale, values, cp, c0, dst, add);
            break;
        default:
            break;
    }
}

// Phase 1 of the build, per point: elevate onto the hyperplane, find the enclosing simplex, its
// d+1 vertex keys and the barycentric weights. The arithmetic (float/double mix, tie rules) is
// densecrf's, so that points land in the same simplices as in the reference. D is a template
// parameter so that the small loops unroll.
template <int D>
void elevate_points(const float* features, int64_t n, const float* scale_factor, const short* canonical,
                    uint64_t* pkeys, float* bary_out, std::atomic<bool>& overflow) {
    constexpr int d = D;
    constexpr int d1 = D + 1;
#pragma omp for schedule(static)
    for (int64_t k = 0; k < n; ++k) {
        const float* f = features + k * d;
        float elevated[D + 1];
        float rem0[D + 1];
        float barycentric[D + 2];
        int rank[D + 1];

        float sm = 0;
        for (int j = d; j > 0; j--) {
            const float cf = f[j - 1] * scale_factor[j - 1];
            elevated[j] = sm - j * cf;
            sm += cf;
        }
        elevated[0] = sm;

        const float down_factor = 1.0f / d1;
        const float up_factor = (float)d1;
        int sum = 0;
        for (int i = 0; i <= d; i++) {
            const float v = down_factor * elevated[i];
            const float up = ceilf(v) * up_factor;
            const float down = floorf(v) * up_factor;
            int rd2;
            if (up - elevated[i] < elevated[i] - down)
                rd2 = (int)up;
            else
                rd2 = (int)down;
            rem0[i] = (float)rd2;
            sum += rd2 * down_factor;
        }

        for (int i = 0; i <= d; i++) rank[i] = 0;
        for (int i = 0; i < d; i++) {
            const double di = elevated[i] - rem0[i];
            for (int j = i + 1; j <= d; j++) {
                if (di < elevated[j] - rem0[j])
                    rank[i]++;
                else
                    rank[j]++;
            }
        }

        for (int i = 0; i <= d; i++) {
            rank[i] += sum;
            if (rank[i] < 0) {
                rank[i] += d1;
                rem0[i] += d1;
            } else if (rank[i] > d) {
                rank[i] -= d1;
                rem0[i] -= d1;
            }
        }

        for (int i = 0; i <= d + 1; i++) barycentric[i] = 0;
        for (int i = 0; i <= d; i++) {
            const float v = (elevated[i] - rem0[i]) * down_factor;
            barycentric[d - rank[i]] += v;
            barycentric[d - rank[i] + 1] -= v;
        }
        barycentric[0] += 1.0 + barycentric[d + 1];

        for (int remainder = 0; remainder <= d; remainder++) {
            uint64_t k0 = 0, k1 = 0;
            for (int i = 0; i < d; i++) {
                const int64_t key = (int64_t)rem0[i] + canonical[remainder * d1 + rank[i]];
                if (key <= -kFieldLimit || key >= kFieldLimit) overflow.store(true, std::memory_order_relaxed);
                const uint64_t field = (uint64_t)((key + kFieldBias) & ((int64_t(1) << kFieldBits) - 1));
                if (i < 3)
                    k0 |= field << field_shift(i);
                else
                    k1 |= field << field_shift(i);
            }
            const int64_t e = k * d1 + remainder;
            pkeys[2 * e] = k0;
            pkeys[2 * e + 1] = k1;
            bary_out[e] = barycentric[remainder];
        }
    }
}

}  // namespace

int resolve_threads(int32_t requested) {
    if (requested > 0) return requested;
#ifdef _OPENMP
    return std::max(1, omp_get_num_procs());
#else
    return 1;
#endif
}

void bilateral_features(const uint8_t* rgb_hwc, int h, int w, float sxy, float srgb, float* out) {
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            const int64_t p = (int64_t)y * w + x;
            const uint8_t* px = rgb_hwc + p * 3;
            float* f = out + p * 5;
            // Division (not multiplication by the inverse) as the references do, so that lattice keys
            // round identically.
            f[0] = x / sxy;
            f[1] = y / sxy;
            f[2] = px[0] / srgb;
            f[3] = px[1] / srgb;
            f[4] = px[2] / srgb;
        }
    }
}

void position_features(int h, int w, float sxy, float* out) {
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            float* f = out + ((int64_t)y * w + x) * 2;
            f[0] = x / sxy;
            f[1] = y / sxy;
        }
    }
}

int32_t Lattice::find(uint64_t k0, uint64_t k1) const {
    const uint64_t mask = (uint64_t(1) << table_bits_) - 1;
    uint64_t i = hash_key(k0, k1) & mask;
    for (;;) {
        const int32_t v = table_[i];
        if (v < 0) return -1;
        if (keys_[2 * (size_t)v] == k0 && keys_[2 * (size_t)v + 1] == k1) return v;
        i = (i + 1) & mask;
    }
}

void Lattice::rehash(int bits) {
    table_bits_ = bits;
    table_.assign(size_t(1) << bits, -1);
    const uint64_t mask = (uint64_t(1) << bits) - 1;
    const int64_t m = (int64_t)(keys_.size() / 2);
    for (int64_t v = 0; v < m; ++v) {
        uint64_t i = hash_key(keys_[2 * v], keys_[2 * v + 1]) & mask;
        while (table_[i] >= 0) i = (i + 1) & mask;
        table_[i] = (int32_t)v;
    }
}

int32_t Lattice::insert(uint64_t k0, uint64_t k1) {
    const uint64_t mask = (uint64_t(1) << table_bits_) - 1;
    uint64_t i = hash_key(k0, k1) & mask;
    for (;;) {
        const int32_t v = table_[i];
        if (v < 0) break;
        if (keys_[2 * (size_t)v] == k0 && keys_[2 * (size_t)v + 1] == k1) return v;
        i = (i + 1) & mask;
    }
    const int32_t v = (int32_t)(keys_.size() / 2);
    keys_.push_back(k0);
    keys_.push_back(k1);
    table_[i] = v;
    // Load factor at most 1/2 keeps linear probing short.
    if ((uint64_t)(v + 1) * 2 > (uint64_t(1) << table_bits_)) rehash(table_bits_ + 1);
    return v;
}

void Lattice::build(const float* features, int64_t n, int d, int threads) {
    if (features == nullptr) throw std::invalid_argument("lattice features pointer is null");
    if (d < 1 || d > kMaxDim)
        throw std::invalid_argument("lattice feature dimension must be 1.." + std::to_string(kMaxDim) + ", got " +
                                    std::to_string(d));
    if (n < 1) throw std::invalid_argument("lattice needs at least one point, got " + std::to_string(n));
    const int d1 = d + 1;
    if (n * d1 >= (int64_t)INT32_MAX) throw std::invalid_argument("lattice has too many points: " + std::to_string(n));
    threads = resolve_threads(threads);

    n_ = n;
    d_ = d;
    m_ = 0;
    alpha_ = 1.0f / (1.0f + powf(2.0f, (float)-d));
    point_keys_.resize((size_t)(n * d1 * 2));
    offset_.resize((size_t)(n * d1));
    bary_.resize((size_t)(n * d1));
    keys_.clear();
    {
        // A table of about 2n slots to start with: enough for smooth kernels, grown when needed.
        int bits = 10;
        while ((int64_t(1) << bits) < 2 * n && bits < 30) ++bits;
        if (table_bits_ != bits || table_.size() != (size_t(1) << bits)) {
            table_bits_ = bits;
            table_.assign(size_t(1) << bits, -1);
        } else {
            std::fill(table_.begin(), table_.end(), -1);
        }
    }

    // Constants exactly as densecrf computes them (the same float/double mix), so that points land in
    // the same simplices as in the reference.
    float scale_factor[kMaxDim];
    const float inv_std_dev = sqrt(2.0 / 3.0) * d1;
    for (int i = 0; i < d; ++i) scale_factor[i] = 1.0 / sqrt(double((i + 2) * (i + 1))) * inv_std_dev;
    short canonical[(kMaxDim + 1) * (kMaxDim + 1)];
    for (int i = 0; i <= d; ++i) {
        for (int j = 0; j <= d - i; ++j) canonical[i * d1 + j] = (short)i;
        for (int j = d - i + 1; j <= d; ++j) canonical[i * d1 + j] = (short)(i - d1);
    }
    uint64_t one0 = 0, one1 = 0;
    for (int i = 0; i < d; ++i) {
        if (i < 3)
            one0 |= uint64_t(1) << field_shift(i);
        else
            one1 |= uint64_t(1) << field_shift(i);
    }

    std::atomic<bool> overflow{false};
    bool failed = false;
    std::string failure;

    uint64_t* pkeys = point_keys_.data();
    float* bary_out = bary_.data();

#pragma omp parallel num_threads(threads)
    {
        switch (d) {
            case 1:
                elevate_points<1>(features, n, scale_factor, canonical, pkeys, bary_out, overflow);
                break;
            case 2:
                elevate_points<2>(features, n, scale_factor, canonical, pkeys, bary_out, overflow);
                break;
            case 3:
                elevate_points<3>(features, n, scale_factor, canonical, pkeys, bary_out, overflow);
                break;
            case 4:
                elevate_points<4>(features, n, scale_factor, canonical, pkeys, bary_out, overflow);
                break;
            case 5:
                elevate_points<5>(features, n, scale_factor, canonical, pkeys, bary_out, overflow);
                break;
            default:
                elevate_points<6>(features, n, scale_factor, canonical, pkeys, bary_out, overflow);
                break;
        }

#pragma omp single
        {
            if (!overflow.load()) {
                try {
                    // Neighbouring points mostly share vertices: a one-entry cache per vertex slot
                    // skips most hash probes.
                    uint64_t last0[kMaxDim + 1], last1[kMaxDim + 1];
                    int32_t last_v[kMaxDim + 1];
                    for (int j = 0; j <= d; ++j) last_v[j] = -1;
                    const int64_t pairs = n * d1;
                    int32_t* off = offset_.data();
                    for (int64_t e0 = 0; e0 < pairs; e0 += d1) {
                        for (int j = 0; j < d1; ++j) {
                            const int64_t e = e0 + j;
                            const uint64_t k0 = pkeys[2 * e], k1 = pkeys[2 * e + 1];
                            if (last_v[j] >= 0 && last0[j] == k0 && last1[j] == k1) {
                                off[e] = last_v[j];
                            } else {
                                const int32_t v = insert(k0, k1);
                                off[e] = v;
                                last0[j] = k0;
                                last1[j] = k1;
                                last_v[j] = v;
                            }
                        }
                    }
                    m_ = (int64_t)(keys_.size() / 2);
                    neighbours_.resize((size_t)(d1 * m_ * 2));
                } catch (const std::exception& ex) {
                    failed = true;
                    failure = ex.what();
                } catch (...) {
                    failed = true;
                    failure = "unknown error while building the lattice";
                }
            }
        }

        if (!overflow.load() && !failed) {
            const int64_t m = m_;
#pragma omp for schedule(dynamic, 2048)
            for (int64_t v = 0; v < m; ++v) {
                const uint64_t k0 = keys_[2 * v], k1 = keys_[2 * v + 1];
                for (int j = 0; j <= d; ++j) {
                    uint64_t a0 = k0 - one0, a1 = k1 - one1;
                    uint64_t b0 = k0 + one0, b1 = k1 + one1;
                    if (j < d) {
                        const uint64_t step = uint64_t(d1) << field_shift(j);
                        if (j < 3) {
                            a0 += step;
                            b0 -= step;
                        } else {
                            a1 += step;
                            b1 -= step;
                        }
                    }
                    const int32_t n1 = find(a0, a1);
                    const int32_t n2 = find(b0, b1);
                    int32_t* nb = neighbours_.data() + ((int64_t)j * m + v) * 2;
                    nb[0] = n1 < 0 ? (int32_t)m : n1;
                    nb[1] = n2 < 0 ? (int32_t)m : n2;
                }
            }
        }
    }

    if (overflow.load()) {
        n_ = 0;
        throw std::invalid_argument(
            "lattice features are too large for the lattice's integer coordinates (|feature| must stay below "
            "about 1e5): use larger standard deviations");
    }
    if (failed) {
        n_ = 0;
        throw std::runtime_error("building the lattice failed: " + failure);
    }
}

void Lattice::reserve_values(int cp, int threads) {
    cp = std::max(cp, 1);
    const size_t need = (size_t)((m_ + 1) * cp);
    if (values_a_.size() < need) values_a_.resize(need);
    if (values_b_.size() < need) values_b_.resize(need);
    const size_t extra = (size_t)std::max(0, threads - 1);
    if (partial_.size() < extra) partial_.resize(extra);
    for (size_t t = 0; t < extra; ++t)
        if (partial_[t].size() < need) partial_[t].resize(need);
    // Vertex m stands for every missing neighbour and must read as zero.
    std::fill(values_a_.begin() + m_ * cp, values_a_.begin() + (m_ + 1) * cp, 0.0f);
    std::fill(values_b_.begin() + m_ * cp, values_b_.begin() + (m_ + 1) * cp, 0.0f);
}

int Lattice::splat_workers() const { return std::min(team_size(), (int)partial_.size() + 1); }

float* Lattice::splat_buffer(int worker) {
    return worker == 0 ? values_a_.data() : partial_[(size_t)(worker - 1)].data();
}

void Lattice::reduce_partials_team(int workers, int cp) {
    if (workers <= 1) return;
    float* values = values_a_.data();
    const int64_t m = m_;
#pragma omp for schedule(static)
    for (int64_t v = 0; v < m; ++v) {
        float* dst = values + v * cp;
        for (int t = 1; t < workers; ++t) {
            const float* src = partial_[(size_t)(t - 1)].data() + v * cp;
            for (int k = 0; k < cp; ++k) dst[k] += src[k];
        }
    }
}

void Lattice::splat_part(const float* in, int cp, const float* splat_weight, int worker, int workers) {
    // Scatter: each worker reads its share of the points once, in order, and accumulates into its own
    // copy of the (cache-resident) vertex values; the copies are summed afterwards. A gather would
    // read every point d+1 times in random order.
    const float* w = splat_weight != nullptr ? splat_weight : bary_.data();
    const int64_t n = n_, m = m_;
    const int d1 = d_ + 1;
    float* values = splat_buffer(worker);
    std::fill(values, values + m * cp, 0.0f);
    const int32_t* off = offset_.data();
    const int64_t p0 = n * worker / workers, p1 = n * (worker + 1) / workers;
    for (int64_t p = p0; p < p1; ++p) scatter_point_any(p, d1, off, w, in, cp, values);
}

void Lattice::reduce_range(int workers, int cp, int64_t v0, int64_t v1) {
    float* values = values_a_.data();
    for (int64_t v = v0; v < v1; ++v) {
        float* dst = values + v * cp;
        for (int t = 1; t < workers; ++t) {
            const float* src = partial_[(size_t)(t - 1)].data() + v * cp;
            for (int k = 0; k < cp; ++k) dst[k] += src[k];
        }
    }
}

void Lattice::blur_pass_range(int j, int cp, int64_t v0, int64_t v1) {
    const float* src = (j % 2 == 0) ? values_a_.data() : values_b_.data();
    float* dst = (j % 2 == 0) ? values_b_.data() : values_a_.data();
    const int32_t* nb = neighbours_.data() + (int64_t)j * m_ * 2;
    const __m128 half = _mm_set1_ps(0.5f);
    for (int64_t v = v0; v < v1; ++v) {
        const float* o = src + v * cp;
        const float* a = src + (int64_t)nb[2 * v] * cp;
        const float* b = src + (int64_t)nb[2 * v + 1] * cp;
        float* t = dst + v * cp;
        for (int k = 0; k < cp; k += 4) {
            const __m128 s = _mm_add_ps(_mm_loadu_ps(a + k), _mm_loadu_ps(b + k));
            _mm_storeu_ps(t + k, _mm_add_ps(_mm_loadu_ps(o + k), _mm_mul_ps(half, s)));
        }
    }
}

const float* Lattice::blurred() const { return ((d_ + 1) % 2 == 0) ? values_a_.data() : values_b_.data(); }

void Lattice::slice_block(int64_t p0, int64_t p1, int cp, const float* slice_weight, const float* add,
                          float* dst) const {
    const int d1 = d_ + 1;
    const __m128 one = _mm_set1_ps(1.0f);
    const float* values = blurred();
    const int32_t* off = offset_.data();
    for (int64_t p = p0; p < p1; ++p) {
        const int64_t r = (p - p0) * cp;
        slice_row_any(off + p * d1, slice_weight + p * d1, d1, one, values, cp, dst + r,
                      add != nullptr ? add + r : nullptr);
    }
}

void Lattice::splat_team(const float* in, int cp, const float* splat_weight) {
    const int workers = splat_workers();
    const int me = team_index();
    if (me < workers) splat_part(in, cp, splat_weight, me, workers);
#pragma omp barrier
    reduce_partials_team(workers, cp);
}

void Lattice::blur_team(int cp) {
    float* src = values_a_.data();
    float* dst = values_b_.data();
    const int64_t m = m_;
    const __m128 half = _mm_set1_ps(0.5f);
    for (int j = 0; j <= d_; ++j) {
        const int32_t* nb = neighbours_.data() + (int64_t)j * m * 2;
#pragma omp for schedule(static)
        for (int64_t v = 0; v < m; ++v) {
            const float* o = src + v * cp;
            const float* a = src + (int64_t)nb[2 * v] * cp;
            const float* b = src + (int64_t)nb[2 * v + 1] * cp;
            float* t = dst + v * cp;
            for (int k = 0; k < cp; k += 4) {
                const __m128 s = _mm_add_ps(_mm_loadu_ps(a + k), _mm_loadu_ps(b + k));
                _mm_storeu_ps(t + k, _mm_add_ps(_mm_loadu_ps(o + k), _mm_mul_ps(half, s)));
            }
        }
        std::swap(src, dst);
    }
}

void Lattice::slice_team(float* out, int cp, const float* slice_weight, bool accumulate, const float* base) {
    // After d+1 blur passes the result sits in buffer a when d+1 is even.
    const float* values = ((d_ + 1) % 2 == 0) ? values_a_.data() : values_b_.data();
    const float* sw = slice_weight != nullptr ? slice_weight : bary_.data();
    const __m128 scale = _mm_set1_ps(slice_weight != nullptr ? 1.0f : alpha_);
    const int32_t* off = offset_.data();
    const int d1 = d_ + 1;
    const int64_t n = n_;
    const float* add = accumulate ? out : base;
#pragma omp for schedule(static)
    for (int64_t p = 0; p < n; ++p)
        slice_row_any(off + p * d1, sw + p * d1, d1, scale, values, cp, out + p * cp,
                      add != nullptr ? add + p * cp : nullptr);
}

void Lattice::filter_interleaved_team(const float* in, int cp, float* out) {
    splat_team(in, cp, nullptr);
    blur_team(cp);
    slice_team(out, cp, nullptr, false);
}

void Lattice::filter_ones_team(float* out) {
    float* a = values_a_.data();
    float* b = values_b_.data();
    const int64_t m = m_, n = n_;
    const int d1 = d_ + 1;
    const int32_t* off = offset_.data();
    const float* bw = bary_.data();
    const int workers = splat_workers();
    const int me = team_index();
    if (me < workers) {
        float* values = splat_buffer(me);
        std::fill(values, values + m, 0.0f);
        const int64_t p0 = n * me / workers, p1 = n * (me + 1) / workers;
        for (int64_t p = p0; p < p1; ++p)
            for (int j = 0; j < d1; ++j) values[off[p * d1 + j]] += bw[p * d1 + j];
    }
#pragma omp barrier
#pragma omp single
    {
        a[m] = 0.0f;
        b[m] = 0.0f;
    }
    reduce_partials_team(workers, 1);
    float* src = a;
    float* dst = b;
    for (int j = 0; j <= d_; ++j) {
        const int32_t* nb = neighbours_.data() + (int64_t)j * m * 2;
#pragma omp for schedule(static)
        for (int64_t v = 0; v < m; ++v) dst[v] = src[v] + 0.5f * (src[nb[2 * v]] + src[nb[2 * v + 1]]);
        std::swap(src, dst);
    }
    const float alpha = alpha_;
#pragma omp for schedule(static)
    for (int64_t p = 0; p < n; ++p) {
        float s = 0.0f;
        for (int j = 0; j < d1; ++j) s += bw[p * d1 + j] * src[off[p * d1 + j]];
        out[p] = s * alpha;
    }
}

void Lattice::filter_planar(const float* in, int channels, float* out, int threads) {
    if (n_ < 1) throw std::logic_error("the lattice has not been built");
    if (channels < 1) throw std::invalid_argument("filter needs at least one channel, got " + std::to_string(channels));
    if (in == nullptr || out == nullptr) throw std::invalid_argument("filter input or output pointer is null");
    threads = resolve_threads(threads);
    const int cp = padded_channels(channels);
    const int64_t n = n_;
    if (in_scratch_.size() < (size_t)(n * cp)) in_scratch_.resize((size_t)(n * cp));
    if (out_scratch_.size() < (size_t)(n * cp)) out_scratch_.resize((size_t)(n * cp));
    reserve_values(cp, threads);
    float* inter = in_scratch_.data();
    float* res = out_scratch_.data();
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (int64_t p = 0; p < n; ++p) {
            float* dst = inter + p * cp;
            int k = 0;
            for (; k < channels; ++k) dst[k] = in[(int64_t)k * n + p];
            for (; k < cp; ++k) dst[k] = 0.0f;
        }
        filter_interleaved_team(inter, cp, res);
#pragma omp for schedule(static)
        for (int64_t p = 0; p < n; ++p) {
            const float* src = res + p * cp;
            for (int k = 0; k < channels; ++k) out[(int64_t)k * n + p] = src[k];
        }
    }
}

}  // namespace wsss
