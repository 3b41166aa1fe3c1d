// C ABI of the seeds domain (wsss_seeds.h): thin, guarded wrappers over the classes in lattice.h,
// densecrf.h and seeds.h.
#include <stdexcept>
#include <string>
#include <vector>

#include "common.h"
#include "densecrf.h"
#include "lattice.h"
#include "seeds.h"

struct wsss_lattice {
    wsss::Lattice lattice;
    std::vector<float> features;
};

struct wsss_bilateral_batch {
    wsss::BilateralBatch batch;
};

struct wsss_crf {
    wsss::DenseCrf crf;
};

struct wsss_seeds {
    wsss::SeedsEngine engine;
};

namespace {

template <class T>
T& deref(T* p, const char* what) {
    if (p == nullptr) throw std::invalid_argument(std::string(what) + " handle is null");
    return *p;
}

void check_out(const void* p) {
    if (p == nullptr) throw std::invalid_argument("output pointer is null");
}

}  // namespace

WSSS_EXPORT int32_t wsss_lattice_create(wsss_lattice** out) {
    return wsss::guarded([&] {
        check_out(out);
        *out = new wsss_lattice();
    });
}

WSSS_EXPORT int32_t wsss_lattice_free(wsss_lattice* lattice) {
    return wsss::guarded([&] { delete lattice; });
}

WSSS_EXPORT int32_t wsss_lattice_build(wsss_lattice* lattice, const float* features, int64_t n, int32_t d,
                                       int32_t threads) {
    return wsss::guarded([&] { deref(lattice, "lattice").lattice.build(features, n, d, threads); });
}

WSSS_EXPORT int32_t wsss_lattice_build_bilateral(wsss_lattice* lattice, const uint8_t* rgb_hwc, int32_t height,
                                                 int32_t width, float sxy, float srgb, int32_t threads) {
    return wsss::guarded([&] {
        wsss_lattice& l = deref(lattice, "lattice");
        if (rgb_hwc == nullptr) throw std::invalid_argument("image pointer is null");
        if (height < 1 || width < 1) throw std::invalid_argument("image size must be positive");
        if (!(sxy > 0.0f) || !(srgb > 0.0f)) throw std::invalid_argument("sxy and srgb must be positive");
        const int64_t n = (int64_t)height * width;
        l.features.resize((size_t)(n * 5));
        wsss::bilateral_features(rgb_hwc, height, width, sxy, srgb, l.features.data());
        l.lattice.build(l.features.data(), n, 5, threads);
    });
}

WSSS_EXPORT int32_t wsss_lattice_info(const wsss_lattice* lattice, int64_t* points, int32_t* dim, int64_t* vertices) {
    return wsss::guarded([&] {
        if (lattice == nullptr) throw std::invalid_argument("lattice handle is null");
        check_out(points);
        check_out(dim);
        check_out(vertices);
        *points = lattice->lattice.points();
        *dim = lattice->lattice.dim();
        *vertices = lattice->lattice.vertices();
    });
}

WSSS_EXPORT int32_t wsss_lattice_filter(wsss_lattice* lattice, const float* in, int32_t channels, float* out,
                                        int32_t threads) {
    return wsss::guarded([&] { deref(lattice, "lattice").lattice.filter_planar(in, channels, out, threads); });
}

WSSS_EXPORT int32_t wsss_bilateral_batch_create(wsss_bilateral_batch** out) {
    return wsss::guarded([&] {
        check_out(out);
        *out = new wsss_bilateral_batch();
    });
}

WSSS_EXPORT int32_t wsss_bilateral_batch_free(wsss_bilateral_batch* batch) {
    return wsss::guarded([&] { delete batch; });
}

WSSS_EXPORT int32_t wsss_bilateral_batch_filter(wsss_bilateral_batch* batch, const uint8_t* images_hwc, int32_t count,
                                                int32_t height, int32_t width, const float* in, int32_t channels,
                                                float sxy, float srgb, float* out, int32_t threads) {
    return wsss::guarded([&] {
        deref(batch, "bilateral batch")
            .batch.filter(images_hwc, count, height, width, in, channels, sxy, srgb, out, threads);
    });
}

WSSS_EXPORT int32_t wsss_crf_create(wsss_crf** out) {
    return wsss::guarded([&] {
        check_out(out);
        *out = new wsss_crf();
    });
}

WSSS_EXPORT int32_t wsss_crf_free(wsss_crf* crf) {
    return wsss::guarded([&] { delete crf; });
}

WSSS_EXPORT int32_t wsss_crf_inference(wsss_crf* crf, const uint8_t* rgb_hwc, int32_t height, int32_t width,
                                       const float* probs, int32_t labels, const wsss_crf_params* params, float* q_out,
                                       int32_t threads) {
    return wsss::guarded([&] {
        wsss_crf& c = deref(crf, "CRF");
        if (params == nullptr) throw std::invalid_argument("CRF parameters pointer is null");
        check_out(q_out);
        c.crf.set_image(rgb_hwc, height, width, *params, threads);
        c.crf.begin_unary(labels);
        c.crf.fill_unary_from_probs(probs);
        c.crf.run(params->iterations, threads);
        c.crf.copy_q_planar(q_out);
    });
}

WSSS_EXPORT int32_t wsss_seeds_create(wsss_seeds** out) {
    return wsss::guarded([&] {
        check_out(out);
        *out = new wsss_seeds();
    });
}

WSSS_EXPORT int32_t wsss_seeds_free(wsss_seeds* seeds) {
    return wsss::guarded([&] { delete seeds; });
}

WSSS_EXPORT int32_t wsss_seeds_compute(wsss_seeds* seeds, const uint8_t* images_hwc, int32_t count, int32_t height,
                                       int32_t width, const uint8_t* labels, const float* cams, int32_t classes,
                                       const wsss_seed_params* params, uint8_t* out, int32_t threads) {
    return wsss::guarded([&] {
        wsss_seeds& s = deref(seeds, "seeds");
        if (params == nullptr) throw std::invalid_argument("seed parameters pointer is null");
        s.engine.compute(images_hwc, count, height, width, labels, cams, classes, *params, out, threads);
    });
}
