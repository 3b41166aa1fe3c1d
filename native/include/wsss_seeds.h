/*
 * Reliable seeds: permutohedral-lattice Gaussian filtering, the fully connected CRF and the RRM
 * reliable-region pruning (spec sections 3 and 5). Plain arrays, no libtorch.
 *
 * Layouts: images are 8-bit RGB, height x width x 3 interleaved; per-pixel planes (probabilities,
 * CAMs, filter values) are channels x height x width float32, row-major. `threads` <= 0 means all
 * cores. Handles are workspaces: they keep their buffers between calls, so that steady-state calls do
 * not allocate; one handle must not be used by two threads at once.
 */
#ifndef WSSS_SEEDS_H
#define WSSS_SEEDS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsss_lattice wsss_lattice;
typedef struct wsss_bilateral_batch wsss_bilateral_batch;
typedef struct wsss_crf wsss_crf;
typedef struct wsss_seeds wsss_seeds;

/* Dense CRF parameters (pydensecrf's addPairwiseGaussian / addPairwiseBilateral, Potts, symmetric
 * normalisation). */
typedef struct wsss_crf_params {
    float gaussian_sxy;
    float gaussian_compat;
    float bilateral_sxy;
    float bilateral_srgb;
    float bilateral_compat;
    int32_t iterations;
} wsss_crf_params;

/* Reliable-region parameters (spec section 3). */
typedef struct wsss_seed_params {
    float low_background_power;
    float high_background_power;
    float cam_percentile;
    float cam_floor;
    float background_cam_threshold;
    float crf_confidence;
    wsss_crf_params crf;
} wsss_seed_params;

/* ---- permutohedral lattice ---- */
int32_t wsss_lattice_create(wsss_lattice** out);
int32_t wsss_lattice_free(wsss_lattice* lattice);
/* features: n x d row-major (d in 1..6). */
int32_t wsss_lattice_build(wsss_lattice* lattice, const float* features, int64_t n, int32_t d, int32_t threads);
/* Features (x/sxy, y/sxy, r/srgb, g/srgb, b/srgb) of an RGB image, h x w x 3. */
int32_t wsss_lattice_build_bilateral(wsss_lattice* lattice, const uint8_t* rgb_hwc, int32_t height, int32_t width,
                                     float sxy, float srgb, int32_t threads);
int32_t wsss_lattice_info(const wsss_lattice* lattice, int64_t* points, int32_t* dim, int64_t* vertices);
/* in, out: channels x n (may not overlap). Unnormalised lattice Gaussian, self term included. */
int32_t wsss_lattice_filter(wsss_lattice* lattice, const float* in, int32_t channels, float* out, int32_t threads);

/* ---- bilateral filtering of a batch (dense energy loss) ---- */
int32_t wsss_bilateral_batch_create(wsss_bilateral_batch** out);
int32_t wsss_bilateral_batch_free(wsss_bilateral_batch* batch);
/* images: batch x h x w x 3; in, out: batch x channels x h x w. Images run in parallel. */
int32_t wsss_bilateral_batch_filter(wsss_bilateral_batch* batch, const uint8_t* images_hwc, int32_t count,
                                    int32_t height, int32_t width, const float* in, int32_t channels,
                                    float sxy, float srgb, float* out, int32_t threads);

/* ---- dense CRF ---- */
int32_t wsss_crf_create(wsss_crf** out);
int32_t wsss_crf_free(wsss_crf* crf);
/* probs, q_out: labels x h x w (may be the same buffer). Unary -log(clip(p, 1e-5, 1)). */
int32_t wsss_crf_inference(wsss_crf* crf, const uint8_t* rgb_hwc, int32_t height, int32_t width, const float* probs,
                           int32_t labels, const wsss_crf_params* params, float* q_out, int32_t threads);

/* ---- reliable seeds ---- */
int32_t wsss_seeds_create(wsss_seeds** out);
int32_t wsss_seeds_free(wsss_seeds* seeds);
/* images: count x h x w x 3; labels: count x classes (non-zero = present); cams: count x classes x h x w
 * in [0, 1]; out: count x h x w with values 0 (background), c + 1 (class c) or 255 (unreliable).
 * Images run in parallel. classes <= 254. */
int32_t wsss_seeds_compute(wsss_seeds* seeds, const uint8_t* images_hwc, int32_t count, int32_t height,
                           int32_t width, const uint8_t* labels, const float* cams, int32_t classes,
                           const wsss_seed_params* params, uint8_t* out, int32_t threads);

#ifdef __cplusplus
}
#endif

#endif
