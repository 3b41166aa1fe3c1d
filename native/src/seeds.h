// Reliable-region pruning of RRM (spec section 3) and batch engines that run images in parallel.
// Internal header: the C ABI lives in wsss_seeds.h.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "densecrf.h"
#include "lattice.h"
#include "wsss_seeds.h"

namespace wsss {

// Splits `threads` between images (outer) and work inside one image (inner).
struct ThreadSplit {
    int outer;
    int inner;
};
ThreadSplit split_threads(int threads, int items);

class SeedsEngine {
public:
    void compute(const uint8_t* images_hwc, int count, int height, int width, const uint8_t* labels, const float* cams,
                 int classes, const wsss_seed_params& params, uint8_t* out, int threads);

private:
    struct Worker {
        DenseCrf crf;
        std::vector<int> present;
        std::vector<float> max_cam;
        std::vector<float> bg_cam;
        std::vector<uint8_t> cam_label;
        std::vector<uint8_t> low_label;
        std::vector<float> low_fg_max;
        std::vector<uint8_t> high_is_bg;
        std::vector<float> high_bg;
        std::vector<uint8_t> sure;
        std::vector<float> values;
    };
    std::vector<std::unique_ptr<Worker>> workers_;

    static void one_image(Worker& w, const uint8_t* rgb, int height, int width, const uint8_t* label, const float* cams,
                          int classes, const wsss_seed_params& params, uint8_t* out, int threads);
};

class BilateralBatch {
public:
    void filter(const uint8_t* images_hwc, int count, int height, int width, const float* in, int channels, float sxy,
                float srgb, float* out, int threads);

private:
    struct Worker {
        Lattice lattice;
        std::vector<float> features;
    };
    std::vector<std::unique_ptr<Worker>> workers_;
};

void validate_seed_params(const wsss_seed_params& p);

}  // namespace wsss
