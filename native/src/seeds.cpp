#include "seeds.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <string>

#include "common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace wsss {

namespace {

inline int thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Runs body(i, worker) for i in [0, count) with `outer` threads, each owning one worker; the first
// exception is rethrown after all images finished (none may escape an OpenMP region).
template <class Worker, class Body>
void for_each_image(std::vector<std::unique_ptr<Worker>>& workers, int count, int outer, Body&& body) {
    while ((int)workers.size() < outer) workers.push_back(std::make_unique<Worker>());
    std::exception_ptr error;
#pragma omp parallel for num_threads(outer) schedule(dynamic, 1)
    for (int i = 0; i < count; ++i) {
        try {
            body(i, *workers[(size_t)thread_index()]);
        } catch (...) {
#pragma omp critical(wsss_seeds_error)
            if (!error) error = std::current_exception();
        }
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace

ThreadSplit split_threads(int threads, int items) {
    threads = resolve_threads(threads);
    const int outer = std::max(1, std::min(threads, items));
    return {outer, std::max(1, threads / outer)};
}

void validate_seed_params(const wsss_seed_params& p) {
    validate_crf_params(p.crf);
    auto finite = [](float v) { return std::isfinite(v); };
    if (!finite(p.low_background_power) || !finite(p.high_background_power) || p.low_background_power <= 0 ||
        p.high_background_power <= 0)
        throw std::invalid_argument("background powers must be positive numbers");
    if (!(p.cam_percentile >= 0.0f && p.cam_percentile < 1.0f))
        throw std::invalid_argument("CAM percentile must be in [0, 1), got " + std::to_string(p.cam_percentile));
    if (!finite(p.cam_floor) || !finite(p.background_cam_threshold) || !finite(p.crf_confidence))
        throw std::invalid_argument("CAM floor, background threshold and CRF confidence must be finite");
}

void SeedsEngine::one_image(Worker& w, const uint8_t* rgb, int height, int width, const uint8_t* label,
                            const float* cams, int classes, const wsss_seed_params& params, uint8_t* out, int threads) {
    const int64_t n = (int64_t)height * width;
    w.present.clear();
    for (int c = 0; c < classes; ++c)
        if (label[c] != 0) w.present.push_back(c);
    const int np = (int)w.present.size();
    const int labels = np + 1;

    w.max_cam.resize((size_t)n);
    w.bg_cam.resize((size_t)n);
    w.cam_label.resize((size_t)n);
    w.low_label.resize((size_t)n);
    w.low_fg_max.resize((size_t)n);
    w.high_is_bg.resize((size_t)n);
    w.high_bg.resize((size_t)n);
    w.sure.resize((size_t)n);

    // Step 1: the CAM label, argmax over [bg, cams] with the first maximum winning (numpy's rule).
    // Absent classes are zero in the reference and can never win a strict comparison, so only the
    // present ones are scanned.
    for (int64_t p = 0; p < n; ++p) {
        float mx = 0.0f;
        for (int i = 0; i < np; ++i) mx = std::max(mx, cams[(int64_t)w.present[(size_t)i] * n + p]);
        w.max_cam[(size_t)p] = mx;
        const float bg = std::pow(1.0f - mx, params.high_background_power);
        w.bg_cam[(size_t)p] = bg;
        float best = bg;
        uint8_t arg = 0;
        for (int i = 0; i < np; ++i) {
            const int c = w.present[(size_t)i];
            const float v = cams[(int64_t)c * n + p];
            if (v > best) {
                best = v;
                arg = (uint8_t)(c + 1);
            }
        }
        w.cam_label[(size_t)p] = arg;
    }

    // Step 2: two CRFs over [background, present classes] (the reference's label set), sharing the
    // image's lattices.
    w.crf.set_image(rgb, height, width, params.crf, threads);
    for (int pass = 0; pass < 2; ++pass) {
        const float power = pass == 0 ? params.low_background_power : params.high_background_power;
        float* u = w.crf.begin_unary(labels);
        const int cp = w.crf.padded_labels();
        for (int64_t p = 0; p < n; ++p) {
            float* row = u + p * cp;
            const float bg = std::pow(1.0f - w.max_cam[(size_t)p], power);
            row[0] = std::log(std::min(std::max(bg, 1e-5f), 1.0f));
            for (int i = 0; i < np; ++i) {
                const float v = cams[(int64_t)w.present[(size_t)i] * n + p];
                row[i + 1] = std::log(v >= 1e-5f ? std::min(v, 1.0f) : 1e-5f);
            }
            for (int k = labels; k < cp; ++k) row[k] = 0.0f;
        }
        w.crf.run(params.crf.iterations, threads);
        const float* q = w.crf.q();
        for (int64_t p = 0; p < n; ++p) {
            const float* row = q + p * cp;
            int arg = 0;
            float best = row[0];
            float fg = 0.0f;
            for (int k = 1; k < labels; ++k) {
                if (row[k] > best) {
                    best = row[k];
                    arg = k;
                }
                fg = std::max(fg, row[k]);
            }
            if (pass == 0) {
                w.low_label[(size_t)p] = arg == 0 ? 0 : (uint8_t)(w.present[(size_t)(arg - 1)] + 1);
                w.low_fg_max[(size_t)p] = fg;
            } else {
                w.high_is_bg[(size_t)p] = arg == 0 ? 1 : 0;
                w.high_bg[(size_t)p] = row[0];
            }
        }
    }

    // Step 4: the sure-CAM region, for the labels that occur in argmax(crf_low).
    std::fill(w.sure.begin(), w.sure.end(), (uint8_t)0);
    bool occurs[256] = {false};
    for (int64_t p = 0; p < n; ++p) occurs[w.low_label[(size_t)p]] = true;
    if (occurs[0]) {
        for (int64_t p = 0; p < n; ++p)
            if (w.cam_label[(size_t)p] == 0 && w.bg_cam[(size_t)p] > params.background_cam_threshold)
                w.sure[(size_t)p] = 1;
    }
    for (int c : w.present) {
        const uint8_t lab = (uint8_t)(c + 1);
        if (!occurs[lab]) continue;
        const float* cam = cams + (int64_t)c * n;
        w.values.clear();
        for (int64_t p = 0; p < n; ++p)
            if (w.cam_label[(size_t)p] == lab && cam[p] > params.cam_floor) w.values.push_back(cam[p]);
        // No CAM value above the floor: the class has no sure region (the reference crashes here).
        if (w.values.empty()) continue;
        const size_t count = w.values.size();
        size_t index = (size_t)((double)params.cam_percentile * (double)count);
        index = std::min(index, count - 1);
        std::nth_element(w.values.begin(), w.values.begin() + (std::ptrdiff_t)index, w.values.end());
        const float thr = w.values[index];
        for (int64_t p = 0; p < n; ++p)
            if (w.cam_label[(size_t)p] == lab && cam[p] > thr) w.sure[(size_t)p] = 1;
    }

    // Steps 3, 5, 6, 7 in the reference's order of overwrites, folded into one rule per pixel.
    for (int64_t p = 0; p < n; ++p) {
        const float conf = std::max(w.high_bg[(size_t)p], w.low_fg_max[(size_t)p]);
        const bool unsure = conf < params.crf_confidence || !w.sure[(size_t)p];
        uint8_t v;
        if (unsure)
            v = 255;
        else if (w.high_is_bg[(size_t)p])
            v = 0;
        else if (w.low_label[(size_t)p] == 0)
            v = 255;
        else
            v = w.low_label[(size_t)p];
        out[p] = v;
    }
}

void SeedsEngine::compute(const uint8_t* images_hwc, int count, int height, int width, const uint8_t* labels,
                          const float* cams, int classes, const wsss_seed_params& params, uint8_t* out, int threads) {
    if (images_hwc == nullptr || labels == nullptr || cams == nullptr || out == nullptr)
        throw std::invalid_argument("seeds: a buffer pointer is null");
    if (count < 0) throw std::invalid_argument("seeds: negative image count");
    if (height < 1 || width < 1) throw std::invalid_argument("seeds: image size must be positive");
    if (classes < 0 || classes > 254)
        throw std::invalid_argument(
            "seeds: the number of classes must be in 0..254 (labels are bytes with 255 = "
            "ignore), got " +
            std::to_string(classes));
    validate_seed_params(params);
    if (count == 0) return;
    const ThreadSplit split = split_threads(threads, count);
    const int64_t n = (int64_t)height * width;
    for_each_image(workers_, count, split.outer, [&](int i, Worker& w) {
        one_image(w, images_hwc + (int64_t)i * n * 3, height, width, labels + (int64_t)i * classes,
                  cams + (int64_t)i * classes * n, classes, params, out + (int64_t)i * n, split.inner);
    });
}

void BilateralBatch::filter(const uint8_t* images_hwc, int count, int height, int width, const float* in, int channels,
                            float sxy, float srgb, float* out, int threads) {
    if (images_hwc == nullptr || in == nullptr || out == nullptr)
        throw std::invalid_argument("bilateral filter: a buffer pointer is null");
    if (count < 0 || height < 1 || width < 1 || channels < 1)
        throw std::invalid_argument("bilateral filter: count must be >= 0, size and channels positive");
    if (!(sxy > 0.0f) || !(srgb > 0.0f) || !std::isfinite(sxy) || !std::isfinite(srgb))
        throw std::invalid_argument("bilateral filter: sxy and srgb must be positive numbers");
    if (count == 0) return;
    const ThreadSplit split = split_threads(threads, count);
    const int64_t n = (int64_t)height * width;
    for_each_image(workers_, count, split.outer, [&](int i, Worker& w) {
        w.features.resize((size_t)(n * 5));
        bilateral_features(images_hwc + (int64_t)i * n * 3, height, width, sxy, srgb, w.features.data());
        w.lattice.build(w.features.data(), n, 5, split.inner);
        w.lattice.filter_planar(in + (int64_t)i * channels * n, channels, out + (int64_t)i * channels * n, split.inner);
    });
}

}  // namespace wsss
