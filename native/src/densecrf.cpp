#include "densecrf.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "common.h"
#include "omp_team.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace wsss {

namespace {

// exp for 4 floats (Cephes polynomial, relative error about 2e-7): the softmax over labels costs as
// much as the filtering otherwise.
inline __m128 exp_ps(__m128 x) {
    x = _mm_min_ps(x, _mm_set1_ps(88.3762626647949f));
    x = _mm_max_ps(x, _mm_set1_ps(-87.3365478515625f));
    __m128 fx = _mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(1.44269504088896341f)), _mm_set1_ps(0.5f));
    fx = _mm_floor_ps(fx);
    x = _mm_sub_ps(x, _mm_mul_ps(fx, _mm_set1_ps(0.693359375f)));
    x = _mm_sub_ps(x, _mm_mul_ps(fx, _mm_set1_ps(-2.12194440e-4f)));
    const __m128 z = _mm_mul_ps(x, x);
    __m128 y = _mm_set1_ps(1.9875691500E-4f);
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(1.3981999507E-3f));
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(8.3334519073E-3f));
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(4.1665795894E-2f));
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(1.6666665459E-1f));
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(5.0000001201E-1f));
    y = _mm_add_ps(_mm_mul_ps(y, z), _mm_add_ps(x, _mm_set1_ps(1.0f)));
    __m128i e = _mm_add_epi32(_mm_cvttps_epi32(fx), _mm_set1_epi32(127));
    e = _mm_slli_epi32(e, 23);
    return _mm_mul_ps(y, _mm_castsi128_ps(e));
}

inline float hsum(__m128 v) {
    __m128 s = _mm_add_ps(v, _mm_movehl_ps(v, v));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

// Lanes [valid, 4) of the last group of 4 labels are padding.
inline __m128 valid_lanes(int valid) {
    const __m128i lane = _mm_setr_epi32(0, 1, 2, 3);
    return _mm_castsi128_ps(_mm_cmplt_epi32(lane, _mm_set1_epi32(valid)));
}

// q = softmax(e) over the first `labels` lanes; padding lanes of q become 0. `last` is
// valid_lanes(labels - (cp - 4)).
inline void softmax_row(const float* e, int labels, int cp, __m128 last, float* q) {
    const __m128 neg_inf = _mm_set1_ps(-INFINITY);
    __m128 vmx = neg_inf;
    for (int k = 0; k + 4 < cp; k += 4) vmx = _mm_max_ps(vmx, _mm_loadu_ps(e + k));
    vmx = _mm_max_ps(vmx, _mm_or_ps(_mm_and_ps(last, _mm_loadu_ps(e + cp - 4)), _mm_andnot_ps(last, neg_inf)));
    vmx = _mm_max_ps(vmx, _mm_shuffle_ps(vmx, vmx, _MM_SHUFFLE(1, 0, 3, 2)));
    vmx = _mm_max_ps(vmx, _mm_shuffle_ps(vmx, vmx, _MM_SHUFFLE(2, 3, 0, 1)));
    __m128 sum = _mm_setzero_ps();
    for (int k = 0; k < cp; k += 4) {
        __m128 x = exp_ps(_mm_sub_ps(_mm_loadu_ps(e + k), vmx));
        if (k + 4 == cp) x = _mm_and_ps(x, last);
        sum = _mm_add_ps(sum, x);
        _mm_storeu_ps(q + k, x);
    }
    const __m128 inv = _mm_set1_ps(1.0f / hsum(sum));
    for (int k = 0; k < cp; k += 4) _mm_storeu_ps(q + k, _mm_mul_ps(_mm_loadu_ps(q + k), inv));
    (void)labels;
}

}  // namespace

void validate_crf_params(const wsss_crf_params& p) {
    auto positive = [](float v, const char* name) {
        if (!(v > 0.0f) || !std::isfinite(v))
            throw std::invalid_argument(std::string("CRF parameter ") + name + " must be a positive number, got " +
                                        std::to_string(v));
    };
    positive(p.gaussian_sxy, "gaussian_sxy");
    positive(p.bilateral_sxy, "bilateral_sxy");
    positive(p.bilateral_srgb, "bilateral_srgb");
    if (!std::isfinite(p.gaussian_compat) || !std::isfinite(p.bilateral_compat))
        throw std::invalid_argument("CRF compatibility weights must be finite");
    if (p.iterations < 0)
        throw std::invalid_argument("CRF iterations must be >= 0, got " + std::to_string(p.iterations));
}

void DenseCrf::prepare_kernel(Kernel& k, float compat) {
    k.compat = compat;
    const Lattice& lat = k.lattice;
    const int64_t n = lat.points();
    const int d1 = lat.dim() + 1;
    k.norm.resize((size_t)n);
    k.splat_weight.resize((size_t)(n * d1));
    k.slice_weight.resize((size_t)(n * d1));
}

void DenseCrf::set_image(const uint8_t* rgb_hwc, int height, int width, const wsss_crf_params& params, int threads) {
    if (rgb_hwc == nullptr) throw std::invalid_argument("CRF image pointer is null");
    if (height < 1 || width < 1)
        throw std::invalid_argument("CRF image size must be positive, got " + std::to_string(height) + "x" +
                                    std::to_string(width));
    validate_crf_params(params);
    threads = resolve_threads(threads);
    n_ = (int64_t)height * width;
    labels_ = 0;
    features_.resize((size_t)(n_ * 5));

    position_features(height, width, params.gaussian_sxy, features_.data());
    gaussian_.lattice.build(features_.data(), n_, 2, threads);
    bilateral_features(rgb_hwc, height, width, params.bilateral_sxy, params.bilateral_srgb, features_.data());
    bilateral_.lattice.build(features_.data(), n_, 5, threads);
    prepare_kernel(gaussian_, params.gaussian_compat);
    prepare_kernel(bilateral_, params.bilateral_compat);
    gaussian_.lattice.reserve_values(4, threads);
    bilateral_.lattice.reserve_values(4, threads);

    const int64_t n = n_;
#pragma omp parallel num_threads(threads)
    {
        for (Kernel* k : {&gaussian_, &bilateral_}) {
            Lattice& lat = k->lattice;
            float* norm = k->norm.data();
            lat.filter_ones_team(norm);
#pragma omp for schedule(static)
            for (int64_t p = 0; p < n; ++p) norm[p] = 1.0f / std::sqrt(norm[p] + 1e-20f);
            // The normalisation n(i) K (n Q) and the compatibility weight become part of the splat and
            // slice weights, so that an iteration is only splat, blur and slice.
            const int d1 = lat.dim() + 1;
            const float* bary = lat.bary();
            const float scale = lat.alpha() * k->compat;
            float* spw = k->splat_weight.data();
            float* slw = k->slice_weight.data();
#pragma omp for schedule(static)
            for (int64_t p = 0; p < n; ++p)
                for (int j = 0; j < d1; ++j) {
                    spw[p * d1 + j] = bary[p * d1 + j] * norm[p];
                    slw[p * d1 + j] = bary[p * d1 + j] * scale * norm[p];
                }
        }
    }
}

float* DenseCrf::begin_unary(int labels) {
    if (n_ < 1) throw std::logic_error("the CRF has no image: call set_image first");
    if (labels < 1) throw std::invalid_argument("the CRF needs at least one label, got " + std::to_string(labels));
    labels_ = labels;
    cp_ = padded_channels(labels);
    const size_t need = (size_t)(n_ * cp_);
    if (neg_unary_.size() < need) neg_unary_.resize(need);
    if (q_.size() < need) q_.resize(need);
    return neg_unary_.data();
}

void DenseCrf::fill_unary_from_probs(const float* probs, int threads) {
    if (probs == nullptr) throw std::invalid_argument("CRF probabilities pointer is null");
    float* u = neg_unary_.data();
    const int64_t n = n_;
    const int labels = labels_, cp = cp_;
    threads = resolve_threads(threads);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < n; ++p) {
        float* row = u + p * cp;
        int k = 0;
        for (; k < labels; ++k) {
            const float v = probs[(int64_t)k * n + p];
            // NaN maps to the clip floor, as np.clip would not: a NaN unary would poison the pixel.
            row[k] = std::log(v >= 1e-5f ? std::min(v, 1.0f) : 1e-5f);
        }
        for (; k < cp; ++k) row[k] = 0.0f;
    }
}

void DenseCrf::run(int iterations, int threads) {
    if (labels_ < 1) throw std::logic_error("the CRF has no unary: call begin_unary first");
    if (iterations < 0) throw std::invalid_argument("CRF iterations must be >= 0");
    threads = resolve_threads(threads);
    gaussian_.lattice.reserve_values(cp_, threads);
    bilateral_.lattice.reserve_values(cp_, threads);
    // Energies are sliced block-wise into a per-thread buffer and turned into Q right away.
    constexpr int64_t kBlock = 64;
    if (rows_.size() < (size_t)(threads * kBlock * cp_)) rows_.resize((size_t)(threads * kBlock * cp_));
    const int64_t n = n_;
    const int labels = labels_, cp = cp_;
    const float* nu = neg_unary_.data();
    float* q = q_.data();
    float* rows = rows_.data();
    const __m128 last = valid_lanes(labels - (cp - 4));
    const int64_t blocks = (n + kBlock - 1) / kBlock;

    Kernel* active[2];
    int na = 0;
    for (Kernel* k : {&gaussian_, &bilateral_})
        if (k->compat != 0.0f) active[na++] = k;
    int passes = 0;
    for (int a = 0; a < na; ++a) passes = std::max(passes, active[a]->lattice.dim() + 1);

        // Both kernels advance together through one set of phases (splat, reduce, blur pass j, slice
        // fused with the softmax), so that an iteration has 9 barriers instead of 16: with threads that
        // the OS may deschedule, each barrier is a potential wait.
#pragma omp parallel num_threads(threads)
    {
        const int me = team_index(), team = team_size();
#pragma omp for schedule(static)
        for (int64_t p = 0; p < n; ++p) softmax_row(nu + p * cp, labels, cp, last, q + p * cp);

        // Runs fn(lattice, v0, v1) on this thread's share of the vertices of the lattices selected by
        // use(lattice), split evenly over the concatenation of their vertex ranges.
        auto share = [&](auto use, auto fn) {
            int64_t total = 0;
            for (int a = 0; a < na; ++a)
                if (use(active[a]->lattice)) total += active[a]->lattice.vertices();
            const int64_t s0 = total * me / team, s1 = total * (me + 1) / team;
            int64_t base = 0;
            for (int a = 0; a < na; ++a) {
                Lattice& lat = active[a]->lattice;
                if (!use(lat)) continue;
                const int64_t m = lat.vertices();
                const int64_t v0 = std::max<int64_t>(s0 - base, 0), v1 = std::min<int64_t>(s1 - base, m);
                if (v0 < v1) fn(lat, v0, v1);
                base += m;
            }
        };

        for (int it = 0; it < iterations; ++it) {
            if (na > 0) {
                int workers = team;
                for (int a = 0; a < na; ++a) workers = std::min(workers, active[a]->lattice.splat_workers());
                if (me < workers)
                    for (int a = 0; a < na; ++a)
                        active[a]->lattice.splat_part(q, cp, active[a]->splat_weight.data(), me, workers);
#pragma omp barrier
                if (workers > 1) {
                    share([](Lattice&) { return true; },
                          [&](Lattice& lat, int64_t v0, int64_t v1) { lat.reduce_range(workers, cp, v0, v1); });
#pragma omp barrier
                }
                for (int j = 0; j < passes; ++j) {
                    share([j](Lattice& lat) { return j <= lat.dim(); },
                          [&](Lattice& lat, int64_t v0, int64_t v1) { lat.blur_pass_range(j, cp, v0, v1); });
#pragma omp barrier
                }
            }
#pragma omp for schedule(static)
            for (int64_t b = 0; b < blocks; ++b) {
                const int64_t p0 = b * kBlock, p1 = std::min(n, p0 + kBlock);
                float* block = rows + (int64_t)me * kBlock * cp;
                const float* energy = nu + p0 * cp;
                for (int a = 0; a < na; ++a) {
                    active[a]->lattice.slice_block(p0, p1, cp, active[a]->slice_weight.data(), energy, block);
                    energy = block;
                }
                for (int64_t p = p0; p < p1; ++p) softmax_row(energy + (p - p0) * cp, labels, cp, last, q + p * cp);
            }
        }
    }
}

void DenseCrf::copy_q_planar(float* out, int threads) const {
    const int64_t n = n_;
    threads = resolve_threads(threads);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < n; ++p)
        for (int k = 0; k < labels_; ++k) out[(int64_t)k * n + p] = q_[p * cp_ + k];
}

}  // namespace wsss
