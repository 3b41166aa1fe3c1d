// Permutohedral lattice (Adams, Baek, Davis 2010) in the variant of Kraehenbuehl's densecrf, which is
// what both reference implementations of the method use (pydensecrf for the dense CRF, the RRM
// authors' bilateral filter for the energy loss): splat with barycentric weights, blur with
// [1/2 1 1/2] along each of the d+1 lattice directions, slice, scale by 1 / (1 + 2^-d). The self
// term is included and nothing is normalised.
//
// Internal header: the C ABI lives in wsss_seeds.h.
//
// Threading model: methods whose name ends in _team are OpenMP work-sharing code without a parallel
// region of their own. They must be called by every thread of the current team (they contain
// orphaned `omp for` / `omp single` constructs), or from serial code. Callers open one region for a
// whole computation (a CRF inference runs dozens of loops in one region), so that the team starts
// once. The convenience methods without the suffix open their own region.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wsss {

// Channels are processed in groups of 4 (one SSE register); buffers hold them padded.
inline int padded_channels(int c) { return (c + 3) & ~3; }

class Lattice {
public:
    // Feature dimensions supported: the integer keys of d coordinates are packed in 128 bits.
    static constexpr int kMaxDim = 6;

    // Builds the lattice for n points with d features each (row-major n x d). Reuses the
    // allocations of the previous build when they are large enough.
    void build(const float* features, int64_t n, int d, int threads);
    void build_team(const float* features, int64_t n, int d);

    int64_t points() const { return n_; }
    int dim() const { return d_; }
    int64_t vertices() const { return m_; }
    // The constant densecrf multiplies every slice with.
    float alpha() const { return alpha_; }

    // Barycentric weight of vertex slot j of point p is bary()[p * (d+1) + j].
    const float* bary() const { return bary_.data(); }
    // Splat as a gather: vertex v receives the points csr_pixel()[e] with weights csr_weight()[e]
    // for e in [csr_start()[v], csr_start()[v+1]). Exposed so that callers can fold a per-point
    // scale into the weights once (the CRF's normalisation).
    const int32_t* csr_start() const { return csr_start_.data(); }
    const int32_t* csr_pixel() const { return csr_pixel_.data(); }
    const float* csr_weight() const { return csr_weight_.data(); }
    int64_t csr_size() const { return (int64_t)csr_pixel_.size(); }

    // Serial: makes the vertex value buffers large enough for cp (multiple of 4) channels.
    void reserve_values(int cp);

    // in: n x cp interleaved. splat_weight: per CSR entry (null: the barycentric weights).
    void splat_team(const float* in, int cp, const float* splat_weight);
    void blur_team(int cp);
    // out[p*cp + k] = sum_j slice_weight[p*(d+1)+j] * vertex value, plus out's previous value when
    // accumulating, or plus base (n x cp) when base is given. slice_weight null means alpha *
    // barycentric weight (the plain filter).
    void slice_team(float* out, int cp, const float* slice_weight, bool accumulate, const float* base = nullptr);

    // Plain filter of n x cp interleaved values (cp multiple of 4).
    void filter_interleaved_team(const float* in, int cp, float* out);
    // out[p] = filter of the constant 1 at p (single channel, no padding).
    void filter_ones_team(float* out);

    // Planar convenience: in and out are channels x n; opens its own region.
    void filter_planar(const float* in, int channels, float* out, int threads);

private:
    int64_t n_ = 0;
    int d_ = 0;
    int64_t m_ = 0;
    float alpha_ = 1.0f;

    // per point-vertex pair (n * (d+1))
    std::vector<uint64_t> point_keys_;  // 2 words per pair
    std::vector<int32_t> offset_;
    std::vector<float> bary_;
    // lattice vertices
    std::vector<uint64_t> keys_;  // 2 words per vertex
    std::vector<int32_t> table_;  // open addressing, -1 = empty
    int table_bits_ = 0;
    std::vector<int32_t> neighbours_;  // (d+1) x m x 2, value m = the always-zero vertex
    std::vector<int32_t> csr_start_;
    std::vector<int32_t> csr_pixel_;
    std::vector<float> csr_weight_;
    std::vector<int32_t> csr_fill_;
    // vertex values, (m+1) x cp each; vertex m stays zero (stands for missing neighbours)
    std::vector<float> values_a_;
    std::vector<float> values_b_;
    float* blurred_ = nullptr;
    // planar wrapper scratch
    std::vector<float> in_scratch_;
    std::vector<float> out_scratch_;

    int32_t insert(uint64_t k0, uint64_t k1);
    int32_t find(uint64_t k0, uint64_t k1) const;
    void rehash(int bits);
};

// Bilateral features (x/sxy, y/sxy, r/srgb, g/srgb, b/srgb) of an 8-bit RGB image (h x w x 3), in the
// order the reference implementations use (x is the column).
void bilateral_features(const uint8_t* rgb_hwc, int h, int w, float sxy, float srgb, float* out);
// Gaussian features (x/sxy, y/sxy).
void position_features(int h, int w, float sxy, float* out);

// Number of threads as the caller asked, at least 1; 0 or less means "all cores".
int resolve_threads(int32_t requested);

}  // namespace wsss
