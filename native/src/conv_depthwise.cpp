// Dilated depthwise convolution with a fast backward.
//
// Why: libtorch 1.13 sends CPU float convolutions to oneDNN, whose backward-weights kernel for a
// *dilated* depthwise convolution is the slow reference implementation: for MobileNetV1 at output
// stride 8 (depthwise 3x3 with dilation 2 and 4) the backward took ~30x the forward and dominated the
// training step (PyTorch itself has the same problem). The forward stays at::conv2d (fast); the
// backward is computed here:
//   grad_x = conv2d(grad_y, flip(w), padding d(k-1) - p, dilation d, groups C)   (stride 1; a forward
//            dilated depthwise convolution, which oneDNN runs fast)
//   grad_w[c, ky, kx] = sum_{n, y, x} grad_y[n, c, y, x] * x[n, c, y - p + d ky, x - p + d kx]
//            (one pass per tap over each channel plane, channels in parallel, double accumulation).
// Same mathematics as libtorch's; results differ only by float rounding.
#include "conv_depthwise.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace wsss {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor grad_weight(const at::Tensor& x_in, const at::Tensor& gy_in, const at::Tensor& w, int64_t ph, int64_t pw,
                       int64_t dh, int64_t dw) {
    const at::Tensor x = x_in.contiguous();
    const at::Tensor gy = gy_in.contiguous();
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
    const int64_t ho = gy.size(2), wo = gy.size(3), kh = w.size(2), kw = w.size(3);
    at::Tensor gw = at::empty_like(w, at::MemoryFormat::Contiguous);
    const float* xp = x.data_ptr<float>();
    const float* gp = gy.data_ptr<float>();
    float* out = gw.data_ptr<float>();
    at::parallel_for(0, c, 1, [&](int64_t c0, int64_t c1) {
        std::vector<double> acc(static_cast<size_t>(kh * kw));
        for (int64_t ch = c0; ch < c1; ++ch) {
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t b = 0; b < n; ++b) {
                const float* xplane = xp + (b * c + ch) * h * wd;
                const float* gplane = gp + (b * c + ch) * ho * wo;
                for (int64_t ky = 0; ky < kh; ++ky) {
                    const int64_t oy = dh * ky - ph;  // input row = output row + oy
                    const int64_t y0 = std::max<int64_t>(0, -oy), y1 = std::min<int64_t>(ho, h - oy);
                    for (int64_t kx = 0; kx < kw; ++kx) {
                        const int64_t ox = dw * kx - pw;
                        const int64_t x0 = std::max<int64_t>(0, -ox), x1 = std::min<int64_t>(wo, wd - ox);
                        double sum = 0;
                        for (int64_t y = y0; y < y1; ++y) {
                            const float* g = gplane + y * wo;
                            const float* xi = xplane + (y + oy) * wd + ox;
                            float row = 0;
                            for (int64_t xx = x0; xx < x1; ++xx) row += g[xx] * xi[xx];
                            sum += row;
                        }
                        acc[static_cast<size_t>(ky * kw + kx)] += sum;
                    }
                }
            }
            for (int64_t k = 0; k < kh * kw; ++k) out[ch * kh * kw + k] = static_cast<float>(acc[static_cast<size_t>(k)]);
        }
    });
    return gw;
}

struct DepthwiseDilated : public torch::autograd::Function<DepthwiseDilated> {
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, int64_t ph, int64_t pw,
                              int64_t dh, int64_t dw) {
        ctx->save_for_backward({x, w});
        ctx->saved_data["ph"] = ph;
        ctx->saved_data["pw"] = pw;
        ctx->saved_data["dh"] = dh;
        ctx->saved_data["dw"] = dw;
        return at::conv2d(x, w, {}, {1, 1}, {ph, pw}, {dh, dw}, x.size(1));
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor& x = saved[0];
        const at::Tensor& w = saved[1];
        const int64_t ph = ctx->saved_data["ph"].toInt(), pw = ctx->saved_data["pw"].toInt();
        const int64_t dh = ctx->saved_data["dh"].toInt(), dw = ctx->saved_data["dw"].toInt();
        const at::Tensor& gy = grads[0];
        at::Tensor gx, gw;
        if (ctx->needs_input_grad(0)) {
            gx = at::conv2d(gy, w.flip({2, 3}), {}, {1, 1}, {dh * (w.size(2) - 1) - ph, dw * (w.size(3) - 1) - pw},
                            {dh, dw}, x.size(1));
        }
        if (ctx->needs_input_grad(1)) {
            at::NoGradGuard no_grad;
            gw = grad_weight(x, gy, w, ph, pw, dh, dw);
        }
        return {gx, gw, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

}  // namespace

bool use_fast_depthwise_dilated(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef stride,
                                at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
    if (!at::GradMode::is_enabled() || !(x.requires_grad() || weight.requires_grad())) return false;
    if (!x.device().is_cpu() || !weight.device().is_cpu()) return false;
    if (x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat) return false;
    if (x.dim() != 4 || weight.dim() != 4 || stride.size() != 2 || padding.size() != 2 || dilation.size() != 2) return false;
    if (groups <= 1 || x.size(1) != groups || weight.size(0) != groups || weight.size(1) != 1) return false;
    if (stride[0] != 1 || stride[1] != 1 || (dilation[0] == 1 && dilation[1] == 1)) return false;
    // grad_x as a forward convolution needs a non-negative padding d (k - 1) - p.
    return padding[0] >= 0 && padding[1] >= 0 && padding[0] <= dilation[0] * (weight.size(2) - 1) &&
           padding[1] <= dilation[1] * (weight.size(3) - 1);
}

at::Tensor depthwise_dilated_conv2d(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef padding,
                                    at::IntArrayRef dilation) {
    return DepthwiseDilated::apply(x, weight, padding[0], padding[1], dilation[0], dilation[1]);
}

}  // namespace wsss
