// Fully connected CRF (Kraehenbuehl and Koltun 2011) with mean-field inference exactly as pydensecrf
// runs it for the reference (spec section 5): unary -log(clip(p, 1e-5, 1)), Q0 = softmax(-U), then
// per iteration Q = softmax(-U + sum_m w_m * n_m * K_m(n_m * Q)) with a Gaussian kernel on positions
// and a bilateral kernel on positions and colour, symmetric normalisation n_m = 1/sqrt(K_m 1 + 1e-20).
//
// Internal header: the C ABI lives in wsss_seeds.h.
#pragma once

#include <cstdint>
#include <vector>

#include "lattice.h"
#include "wsss_seeds.h"

namespace wsss {

void validate_crf_params(const wsss_crf_params& p);

class DenseCrf {
public:
    // Builds both kernels' lattices for an image and folds the normalisation and the compatibility
    // weights into the splat/slice weights. Several inferences may follow.
    void set_image(const uint8_t* rgb_hwc, int height, int width, const wsss_crf_params& params, int threads);

    // Prepares for `labels` labels and returns the n x padded_labels() buffer the caller fills with
    // log(clip(p, 1e-5, 1)) = -U (padding lanes must be 0).
    float* begin_unary(int labels);
    void fill_unary_from_probs(const float* probs_planar);
    // Runs the inference; the marginals are then in q() (n x padded_labels()).
    void run(int iterations, int threads);
    void copy_q_planar(float* out) const;

    const float* q() const { return q_.data(); }
    int labels() const { return labels_; }
    int padded_labels() const { return cp_; }
    int64_t pixels() const { return n_; }

private:
    struct Kernel {
        Lattice lattice;
        std::vector<float> norm;
        std::vector<float> splat_weight;
        std::vector<float> slice_weight;
        float compat = 0.0f;
    };
    Kernel gaussian_;
    Kernel bilateral_;
    std::vector<float> features_;
    int64_t n_ = 0;
    int labels_ = 0;
    int cp_ = 0;
    std::vector<float> neg_unary_;
    std::vector<float> q_;
    std::vector<float> energy_;

    void prepare_kernel(Kernel& k, float compat);
};

}  // namespace wsss
