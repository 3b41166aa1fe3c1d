// Tensors, operations and autograd over libtorch, behind the flat C ABI of wsss_tensor.h.
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <malloc.h>

#include <cmath>
#include <vector>

#include "common.h"
#include "conv_depthwise.h"

struct wsss_tensor : at::Tensor {
    explicit wsss_tensor(at::Tensor t) : at::Tensor(std::move(t)) {}
};

namespace {

inline wsss_tensor* wrap(at::Tensor t) { return new wsss_tensor(std::move(t)); }

inline const at::Tensor& ref(const wsss_tensor* t) {
    if (t == nullptr) throw std::invalid_argument("a required tensor argument is null");
    return *t;
}

// An optional argument: NULL stands for an undefined tensor (libtorch's "no weight", "no bias").
inline at::Tensor opt(const wsss_tensor* t) { return t ? at::Tensor(*t) : at::Tensor(); }

inline at::IntArrayRef dims(const int64_t* p, int32_t n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }

at::Device device_of(int32_t type, int32_t index) {
    switch (type) {
        case 0: return at::Device(at::kCPU);
        case 1: return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
        default: throw std::invalid_argument("unknown device type " + std::to_string(type));
    }
}

at::TensorOptions options_of(int32_t dtype, int32_t device_type, int32_t device_index) {
    return at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype)).device(device_of(device_type, device_index));
}

std::vector<at::Tensor> list_of(wsss_tensor* const* tensors, int32_t count) {
    std::vector<at::Tensor> list;
    list.reserve(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; ++i) list.push_back(ref(tensors[i]));
    return list;
}

at::Tensor unary(int32_t op, const at::Tensor& a) {
    switch (op) {
        case 0: return at::neg(a);
        case 1: return at::exp(a);
        case 2: return at::log(a);
        case 3: return at::sqrt(a);
        case 4: return at::abs(a);
        case 5: return at::relu(a);
        case 6: return at::sigmoid(a);
        case 7: return at::tanh(a);
        case 8: return at::hardtanh(a, 0.0, 6.0);  // relu6
        case 9: return at::floor(a);
        case 10: return at::ceil(a);
        case 11: return at::round(a);
        case 12: return at::logical_not(a);
        case 13: return at::sign(a);
        case 14: return at::square(a);
        case 15: return at::log1p(a);
        case 16: return at::rsqrt(a);
        case 17: return at::isnan(a);
        case 18: return at::isfinite(a);
        case 19: return at::zeros_like(a);
        case 20: return at::ones_like(a);
        default: throw std::invalid_argument("unknown unary op " + std::to_string(op));
    }
}

// maximum/minimum/logical_* take tensors only: lift a scalar operand to a 0-dim tensor of a's type.
inline at::Tensor lift(const at::Tensor& b, const at::Tensor&) { return b; }
inline at::Tensor lift(double b, const at::Tensor& like) { return at::scalar_tensor(b, like.options().requires_grad(false)); }

template <class B>
at::Tensor binary(int32_t op, const at::Tensor& a, const B& b) {
    switch (op) {
        case 0: return at::add(a, b);
        case 1: return at::sub(a, b);
        case 2: return at::mul(a, b);
        case 3: return at::div(a, b);
        case 4: return at::pow(a, b);
        case 5: return at::maximum(a, lift(b, a));
        case 6: return at::minimum(a, lift(b, a));
        case 7: return at::eq(a, b);
        case 8: return at::ne(a, b);
        case 9: return at::lt(a, b);
        case 10: return at::le(a, b);
        case 11: return at::gt(a, b);
        case 12: return at::ge(a, b);
        case 13: return at::logical_and(a, lift(b, a));
        case 14: return at::logical_or(a, lift(b, a));
        case 15: return at::rsub(a, b);  // b - a
        case 16: return at::mul(at::reciprocal(a), b);  // b / a
        default: throw std::invalid_argument("unknown binary op " + std::to_string(op));
    }
}

}  // namespace

// ---------------------------------------------------------------- runtime
WSSS_EXPORT int32_t wsss_set_num_threads(int32_t threads) {
    return wsss::guarded([&] {
        if (threads < 1) throw std::invalid_argument("thread count must be at least 1");
        at::set_num_threads(threads);
    });
}

WSSS_EXPORT int32_t wsss_get_num_threads(int32_t* threads) {
    return wsss::guarded([&] { *threads = at::get_num_threads(); });
}

WSSS_EXPORT int32_t wsss_manual_seed(uint64_t seed) {
    return wsss::guarded([&] { torch::manual_seed(seed); });
}

WSSS_EXPORT int32_t wsss_cuda_device_count(int32_t* count) {
    return wsss::guarded([&] { *count = static_cast<int32_t>(torch::cuda::device_count()); });
}

WSSS_EXPORT int32_t wsss_cuda_synchronize(int32_t device_index) {
    return wsss::guarded([&] { torch::cuda::synchronize(device_index); });
}

WSSS_EXPORT int32_t wsss_configure_allocator(int64_t mmap_threshold, int64_t trim_threshold, int64_t top_pad) {
    return wsss::guarded([&] {
        // Each mallopt fails (returns 0) for out-of-range values; report it instead of ignoring it.
        if (mmap_threshold >= 0 && mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold)) != 1)
            throw std::invalid_argument("mallopt(M_MMAP_THRESHOLD) rejected " + std::to_string(mmap_threshold));
        if (trim_threshold >= 0 && mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_threshold)) != 1)
            throw std::invalid_argument("mallopt(M_TRIM_THRESHOLD) rejected " + std::to_string(trim_threshold));
        if (top_pad >= 0 && mallopt(M_TOP_PAD, static_cast<int>(top_pad)) != 1)
            throw std::invalid_argument("mallopt(M_TOP_PAD) rejected " + std::to_string(top_pad));
    });
}

WSSS_EXPORT int32_t wsss_get_rng_state(wsss_tensor** out) {
    return wsss::guarded([&] {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        *out = wrap(gen.get_state());
    });
}

WSSS_EXPORT int32_t wsss_set_rng_state(const wsss_tensor* state) {
    return wsss::guarded([&] {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(ref(state));
    });
}

// ---------------------------------------------------------------- creation, data, metadata
WSSS_EXPORT int32_t wsss_tensor_free(wsss_tensor* t) {
    return wsss::guarded([&] { delete t; });
}

WSSS_EXPORT int32_t wsss_tensor_from_data(const void* data, int64_t nbytes, int32_t dtype, const int64_t* shape,
                                          int32_t ndim, int32_t device_type, int32_t device_index,
                                          wsss_tensor** out) {
    return wsss::guarded([&] {
        auto cpu = at::empty(dims(shape, ndim), at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype)));
        int64_t expected = cpu.numel() * static_cast<int64_t>(cpu.element_size());
        if (expected != nbytes)
            throw std::invalid_argument("the data has " + std::to_string(nbytes) + " bytes but shape " +
                                        c10::str(cpu.sizes()) + " needs " + std::to_string(expected));
        if (nbytes > 0) std::memcpy(cpu.data_ptr(), data, static_cast<size_t>(nbytes));
        auto device = device_of(device_type, device_index);
        *out = wrap(device.is_cpu() ? cpu : cpu.to(device));
    });
}

WSSS_EXPORT int32_t wsss_tensor_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype,
                                     int32_t device_type, int32_t device_index, wsss_tensor** out) {
    return wsss::guarded([&] {
        *out = wrap(at::full(dims(shape, ndim), value, options_of(dtype, device_type, device_index)));
    });
}

WSSS_EXPORT int32_t wsss_tensor_random(const int64_t* shape, int32_t ndim, int32_t kind, int32_t dtype,
                                       int32_t device_type, int32_t device_index, wsss_tensor** out) {
    return wsss::guarded([&] {
        auto o = options_of(dtype, device_type, device_index);
        *out = wrap(kind == 0 ? at::rand(dims(shape, ndim), o) : at::randn(dims(shape, ndim), o));
    });
}

WSSS_EXPORT int32_t wsss_tensor_arange(double start, double end, double step, int32_t dtype, int32_t device_type,
                                       int32_t device_index, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(at::arange(start, end, step, options_of(dtype, device_type, device_index))); });
}

WSSS_EXPORT int32_t wsss_tensor_copy_to(const wsss_tensor* t, void* destination, int64_t nbytes) {
    return wsss::guarded([&] {
        auto src = ref(t).detach().to(at::kCPU).contiguous();
        int64_t have = src.numel() * static_cast<int64_t>(src.element_size());
        if (have != nbytes)
            throw std::invalid_argument("the destination has " + std::to_string(nbytes) + " bytes but the tensor of shape " +
                                        c10::str(src.sizes()) + " has " + std::to_string(have));
        if (nbytes > 0) std::memcpy(destination, src.data_ptr(), static_cast<size_t>(nbytes));
    });
}

WSSS_EXPORT int32_t wsss_tensor_info(const wsss_tensor* t, int32_t* dtype, int32_t* ndim, int32_t* device_type,
                                     int32_t* device_index, int32_t* requires_grad) {
    return wsss::guarded([&] {
        const auto& x = ref(t);
        *dtype = static_cast<int32_t>(x.scalar_type());
        *ndim = static_cast<int32_t>(x.dim());
        *device_type = static_cast<int32_t>(x.device().type());
        *device_index = x.device().has_index() ? x.device().index() : 0;
        *requires_grad = x.requires_grad() ? 1 : 0;
    });
}

WSSS_EXPORT int32_t wsss_tensor_shape(const wsss_tensor* t, int64_t* shape, int32_t capacity) {
    return wsss::guarded([&] {
        const auto& x = ref(t);
        if (x.dim() > capacity) throw std::invalid_argument("shape buffer too small");
        for (int64_t i = 0; i < x.dim(); ++i) shape[i] = x.size(i);
    });
}

WSSS_EXPORT int32_t wsss_tensor_item(const wsss_tensor* t, double* value) {
    return wsss::guarded([&] { *value = ref(t).item<double>(); });
}

WSSS_EXPORT int32_t wsss_tensor_to(const wsss_tensor* t, int32_t dtype, int32_t device_type, int32_t device_index,
                                   wsss_tensor** out) {
    return wsss::guarded([&] {
        *out = wrap(ref(t).to(device_of(device_type, device_index), static_cast<at::ScalarType>(dtype)));
    });
}

WSSS_EXPORT int32_t wsss_tensor_clone(const wsss_tensor* t, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(t).clone()); });
}

WSSS_EXPORT int32_t wsss_tensor_contiguous(const wsss_tensor* t, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(t).contiguous()); });
}

WSSS_EXPORT int32_t wsss_tensor_channels_last(const wsss_tensor* t, wsss_tensor** out) {
    return wsss::guarded([&] {
        if (ref(t).dim() != 4) throw std::invalid_argument("channels-last needs a 4-d tensor, got " + c10::str(ref(t).sizes()));
        *out = wrap(ref(t).contiguous(at::MemoryFormat::ChannelsLast));
    });
}

WSSS_EXPORT int32_t wsss_tensor_set_data(wsss_tensor* t, const wsss_tensor* src) {
    return wsss::guarded([&] {
        if (t == nullptr) throw std::invalid_argument("a required tensor argument is null");
        t->set_data(ref(src));
    });
}

// ---------------------------------------------------------------- elementwise
WSSS_EXPORT int32_t wsss_unary(int32_t op, const wsss_tensor* a, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(unary(op, ref(a))); });
}

WSSS_EXPORT int32_t wsss_binary(int32_t op, const wsss_tensor* a, const wsss_tensor* b, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(binary(op, ref(a), ref(b))); });
}

WSSS_EXPORT int32_t wsss_binary_scalar(int32_t op, const wsss_tensor* a, double b, wsss_tensor** out) {
    return wsss::guarded([&] {
        const auto& x = ref(a);
        // A double would promote integer tensors to float; keep integers integral when b is integral.
        if (at::isIntegralType(x.scalar_type(), /*includeBool=*/false) && b == static_cast<double>(static_cast<int64_t>(b)) &&
            op != 3 && op != 16) {
            *out = wrap(binary(op, x, at::scalar_tensor(static_cast<int64_t>(b), x.options())));
        } else {
            *out = wrap(binary(op, x, b));
        }
    });
}

// A double Scalar cannot update an integer tensor in place (libtorch refuses the Float -> Long cast),
// e.g. BatchNorm's num_batches_tracked += 1; whole numbers become integer Scalars for integer tensors.
static at::Scalar scalar_for(const at::Tensor& t, double value) {
    if (at::isIntegralType(t.scalar_type(), /*includeBool=*/false) && value == std::floor(value) &&
        std::abs(value) < 9.0e18) {
        return at::Scalar(static_cast<int64_t>(value));
    }
    return at::Scalar(value);
}

WSSS_EXPORT int32_t wsss_inplace(int32_t op, wsss_tensor* a, const wsss_tensor* b, double value) {
    return wsss::guarded([&] {
        if (a == nullptr) throw std::invalid_argument("a required tensor argument is null");
        at::Tensor& x = *a;
        const at::Scalar scalar = scalar_for(x, value);
        switch (op) {
            case 0: b ? x.add_(*b) : x.add_(scalar); break;
            case 1: b ? x.sub_(*b) : x.sub_(scalar); break;
            case 2: b ? x.mul_(*b) : x.mul_(scalar); break;
            case 3: b ? x.div_(*b) : x.div_(scalar); break;
            case 4: x.copy_(ref(b)); break;
            case 5: x.fill_(scalar); break;
            case 6: x.zero_(); break;
            case 7: x.clamp_min_(scalar); break;
            case 8: b ? x.pow_(*b) : x.pow_(scalar); break;
            case 9: at::hardtanh_(x, 0.0, 6.0); break;
            default: throw std::invalid_argument("unknown in-place op " + std::to_string(op));
        }
    });
}

WSSS_EXPORT int32_t wsss_clamp(const wsss_tensor* a, double min, double max, int32_t has_min, int32_t has_max,
                               wsss_tensor** out) {
    return wsss::guarded([&] {
        c10::optional<at::Scalar> lo = has_min ? c10::optional<at::Scalar>(min) : c10::nullopt;
        c10::optional<at::Scalar> hi = has_max ? c10::optional<at::Scalar>(max) : c10::nullopt;
        *out = wrap(at::clamp(ref(a), lo, hi));
    });
}

WSSS_EXPORT int32_t wsss_where(const wsss_tensor* condition, const wsss_tensor* a, const wsss_tensor* b,
                               wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(at::where(ref(condition), ref(a), ref(b))); });
}

WSSS_EXPORT int32_t wsss_masked_fill(const wsss_tensor* a, const wsss_tensor* mask, double value, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).masked_fill(ref(mask), value)); });
}

WSSS_EXPORT int32_t wsss_matmul(const wsss_tensor* a, const wsss_tensor* b, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(at::matmul(ref(a), ref(b))); });
}

WSSS_EXPORT int32_t wsss_uniform_(wsss_tensor* a, double low, double high) {
    return wsss::guarded([&] {
        at::NoGradGuard no_grad;
        ref(a).uniform_(low, high);
    });
}

WSSS_EXPORT int32_t wsss_normal_(wsss_tensor* a, double mean, double std) {
    return wsss::guarded([&] {
        at::NoGradGuard no_grad;
        ref(a).normal_(mean, std);
    });
}

// ---------------------------------------------------------------- reductions
WSSS_EXPORT int32_t wsss_reduce(int32_t op, const wsss_tensor* a, const int64_t* dims_, int32_t ndims,
                                int32_t keepdim, wsss_tensor** out) {
    return wsss::guarded([&] {
        const auto& x = ref(a);
        bool all = ndims == 0;
        auto d = dims(dims_, ndims);
        switch (op) {
            case 0: *out = wrap(all ? x.sum() : x.sum(d, keepdim != 0)); break;
            case 1: *out = wrap(all ? x.mean() : x.mean(d, keepdim != 0)); break;
            case 2: *out = wrap(all ? x.max() : x.amax(d, keepdim != 0)); break;
            case 3: *out = wrap(all ? x.min() : x.amin(d, keepdim != 0)); break;
            case 4: {
                if (all) { *out = wrap(x.prod()); break; }
                if (ndims != 1) throw std::invalid_argument("prod reduces one dimension at a time");
                *out = wrap(x.prod(d[0], keepdim != 0));
                break;
            }
            case 5: {
                if (all) { *out = wrap(at::logsumexp(x.reshape({-1}), 0)); break; }
                *out = wrap(at::logsumexp(x, d, keepdim != 0));
                break;
            }
            default: throw std::invalid_argument("unknown reduction " + std::to_string(op));
        }
    });
}

WSSS_EXPORT int32_t wsss_reduce_with_indices(int32_t op, const wsss_tensor* a, int64_t dim, int32_t keepdim,
                                             wsss_tensor** values, wsss_tensor** indices) {
    return wsss::guarded([&] {
        auto r = op == 0 ? at::max(ref(a), dim, keepdim != 0) : at::min(ref(a), dim, keepdim != 0);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    });
}

WSSS_EXPORT int32_t wsss_argmax(const wsss_tensor* a, int64_t dim, int32_t keepdim, wsss_tensor** out) {
    return wsss::guarded([&] {
        *out = wrap(dim < -1000 ? at::argmax(ref(a)) : at::argmax(ref(a), dim, keepdim != 0));
    });
}

// ---------------------------------------------------------------- views and shape
WSSS_EXPORT int32_t wsss_reshape(const wsss_tensor* a, const int64_t* shape, int32_t ndim, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).reshape(dims(shape, ndim))); });
}

WSSS_EXPORT int32_t wsss_permute(const wsss_tensor* a, const int64_t* d, int32_t ndim, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).permute(dims(d, ndim))); });
}

WSSS_EXPORT int32_t wsss_expand(const wsss_tensor* a, const int64_t* shape, int32_t ndim, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).expand(dims(shape, ndim))); });
}

WSSS_EXPORT int32_t wsss_slice(const wsss_tensor* a, int64_t dim, int64_t start, int64_t end, int64_t step,
                               wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).slice(dim, start, end, step)); });
}

WSSS_EXPORT int32_t wsss_select(const wsss_tensor* a, int64_t dim, int64_t index, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).select(dim, index)); });
}

WSSS_EXPORT int32_t wsss_squeeze(const wsss_tensor* a, int64_t dim, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(dim < -1000 ? ref(a).squeeze() : ref(a).squeeze(dim)); });
}

WSSS_EXPORT int32_t wsss_unsqueeze(const wsss_tensor* a, int64_t dim, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).unsqueeze(dim)); });
}

WSSS_EXPORT int32_t wsss_flip(const wsss_tensor* a, const int64_t* d, int32_t ndims, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).flip(dims(d, ndims))); });
}

WSSS_EXPORT int32_t wsss_index_select(const wsss_tensor* a, int64_t dim, const wsss_tensor* index, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).index_select(dim, ref(index))); });
}

WSSS_EXPORT int32_t wsss_gather(const wsss_tensor* a, int64_t dim, const wsss_tensor* index, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(a).gather(dim, ref(index))); });
}

WSSS_EXPORT int32_t wsss_cat(wsss_tensor* const* tensors, int32_t count, int64_t dim, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(at::cat(list_of(tensors, count), dim)); });
}

WSSS_EXPORT int32_t wsss_stack(wsss_tensor* const* tensors, int32_t count, int64_t dim, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(at::stack(list_of(tensors, count), dim)); });
}

WSSS_EXPORT int32_t wsss_pad(const wsss_tensor* a, const int64_t* pads, int32_t npads, int32_t mode, double value,
                             wsss_tensor** out) {
    return wsss::guarded([&] {
        namespace F = torch::nn::functional;
        auto o = F::PadFuncOptions(std::vector<int64_t>(pads, pads + npads));
        if (mode == 0) o.mode(torch::kConstant).value(value);
        else if (mode == 1) o.mode(torch::kReflect);
        else if (mode == 2) o.mode(torch::kReplicate);
        else throw std::invalid_argument("unknown pad mode " + std::to_string(mode));
        *out = wrap(F::pad(ref(a), o));
    });
}

// ---------------------------------------------------------------- neural-network functions
WSSS_EXPORT int32_t wsss_conv2d(const wsss_tensor* x, const wsss_tensor* weight, const wsss_tensor* bias,
                                const int64_t* stride, const int64_t* padding, const int64_t* dilation, int64_t groups,
                                wsss_tensor** out) {
    return wsss::guarded([&] {
        const auto st = dims(stride, 2), pad = dims(padding, 2), dil = dims(dilation, 2);
        if (wsss::use_fast_depthwise_dilated(ref(x), ref(weight), st, pad, dil, groups)) {
            // oneDNN's backward of dilated depthwise convolutions is very slow: see conv_depthwise.cpp.
            at::Tensor y = wsss::depthwise_dilated_conv2d(ref(x), ref(weight), pad, dil);
            const at::Tensor b = opt(bias);
            *out = wrap(b.defined() ? y + b.view({1, -1, 1, 1}) : y);
            return;
        }
        *out = wrap(at::conv2d(ref(x), ref(weight), opt(bias), st, pad, dil, groups));
    });
}

WSSS_EXPORT int32_t wsss_batch_norm(const wsss_tensor* x, const wsss_tensor* weight, const wsss_tensor* bias,
                                    wsss_tensor* running_mean, wsss_tensor* running_var, int32_t training,
                                    double momentum, double eps, wsss_tensor** out) {
    return wsss::guarded([&] {
        *out = wrap(at::batch_norm(ref(x), opt(weight), opt(bias), opt(running_mean), opt(running_var), training != 0,
                                   momentum, eps, /*cudnn_enabled=*/true));
    });
}

WSSS_EXPORT int32_t wsss_leaky_relu(const wsss_tensor* x, double slope, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(at::leaky_relu(ref(x), slope)); });
}

WSSS_EXPORT int32_t wsss_dropout(const wsss_tensor* x, double p, int32_t training, int32_t kind, wsss_tensor** out) {
    return wsss::guarded([&] {
        if (p < 0 || p > 1) throw std::invalid_argument("dropout probability must be in [0, 1], got " + std::to_string(p));
        *out = wrap(kind == 0 ? at::dropout(ref(x), p, training != 0) : at::feature_dropout(ref(x), p, training != 0));
    });
}

WSSS_EXPORT int32_t wsss_adaptive_avg_pool2d(const wsss_tensor* x, int64_t out_h, int64_t out_w, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(at::adaptive_avg_pool2d(ref(x), {out_h, out_w})); });
}

WSSS_EXPORT int32_t wsss_max_pool2d(const wsss_tensor* x, const int64_t* kernel, const int64_t* stride,
                                    const int64_t* padding, const int64_t* dilation, int32_t ceil_mode,
                                    wsss_tensor** out) {
    return wsss::guarded([&] {
        *out = wrap(at::max_pool2d(ref(x), dims(kernel, 2), dims(stride, 2), dims(padding, 2), dims(dilation, 2),
                                   ceil_mode != 0));
    });
}

WSSS_EXPORT int32_t wsss_avg_pool2d(const wsss_tensor* x, const int64_t* kernel, const int64_t* stride,
                                    const int64_t* padding, int32_t ceil_mode, int32_t count_include_pad,
                                    wsss_tensor** out) {
    return wsss::guarded([&] {
        *out = wrap(at::avg_pool2d(ref(x), dims(kernel, 2), dims(stride, 2), dims(padding, 2), ceil_mode != 0,
                                   count_include_pad != 0));
    });
}

WSSS_EXPORT int32_t wsss_interpolate(const wsss_tensor* x, int64_t out_h, int64_t out_w, int32_t mode,
                                     int32_t align_corners, wsss_tensor** out) {
    return wsss::guarded([&] {
        const auto& in = ref(x);
        if (in.dim() != 4) throw std::invalid_argument("interpolate expects a 4-d (N, C, H, W) tensor, got " + c10::str(in.sizes()));
        if (mode == 0) {
            *out = wrap(at::upsample_nearest2d(in, {out_h, out_w}));
        } else if (mode == 1) {
            *out = wrap(at::upsample_bilinear2d(in, {out_h, out_w}, align_corners == 1));
        } else {
            throw std::invalid_argument("unknown interpolation mode " + std::to_string(mode));
        }
    });
}

WSSS_EXPORT int32_t wsss_softmax(const wsss_tensor* x, int64_t dim, int32_t log, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(log ? at::log_softmax(ref(x), dim) : at::softmax(ref(x), dim)); });
}

WSSS_EXPORT int32_t wsss_cross_entropy(const wsss_tensor* input, const wsss_tensor* target, const wsss_tensor* weight,
                                       int64_t ignore_index, int32_t reduction, wsss_tensor** out) {
    return wsss::guarded([&] {
        *out = wrap(at::cross_entropy_loss(ref(input), ref(target), opt(weight), reduction, ignore_index, 0.0));
    });
}

WSSS_EXPORT int32_t wsss_multilabel_soft_margin_loss(const wsss_tensor* input, const wsss_tensor* target,
                                                     const wsss_tensor* weight, int32_t reduction, wsss_tensor** out) {
    return wsss::guarded([&] {
        namespace F = torch::nn::functional;
        auto o = F::MultilabelSoftMarginLossFuncOptions();
        if (weight) o.weight(*weight);
        if (reduction == 0) o.reduction(torch::kNone);
        else if (reduction == 1) o.reduction(torch::kMean);
        else o.reduction(torch::kSum);
        *out = wrap(F::multilabel_soft_margin_loss(ref(input), ref(target), o));
    });
}

// ---------------------------------------------------------------- autograd
WSSS_EXPORT int32_t wsss_set_requires_grad(wsss_tensor* t, int32_t requires_grad) {
    return wsss::guarded([&] { ref(t).set_requires_grad(requires_grad != 0); });
}

WSSS_EXPORT int32_t wsss_grad(const wsss_tensor* t, wsss_tensor** out) {
    return wsss::guarded([&] {
        const auto& g = ref(t).grad();
        *out = g.defined() ? wrap(g) : nullptr;
    });
}

WSSS_EXPORT int32_t wsss_zero_grad(wsss_tensor* t) {
    // Like PyTorch's zero_grad(set_to_none=True): dropping the gradient frees it and is cheaper than zeroing.
    return wsss::guarded([&] { ref(t).mutable_grad().reset(); });
}

WSSS_EXPORT int32_t wsss_backward(const wsss_tensor* t, const wsss_tensor* gradient, int32_t retain_graph) {
    return wsss::guarded([&] {
        ref(t).backward(opt(gradient), retain_graph != 0 ? c10::optional<bool>(true) : c10::nullopt);
    });
}

WSSS_EXPORT int32_t wsss_detach(const wsss_tensor* t, wsss_tensor** out) {
    return wsss::guarded([&] { *out = wrap(ref(t).detach()); });
}

WSSS_EXPORT int32_t wsss_grad_enabled(int32_t* enabled) {
    return wsss::guarded([&] { *enabled = at::GradMode::is_enabled() ? 1 : 0; });
}

WSSS_EXPORT int32_t wsss_set_grad_enabled(int32_t enabled) {
    return wsss::guarded([&] { at::GradMode::set_enabled(enabled != 0); });
}

// ---------------------------------------------------------------- optimisers
// Same update rules as torch.optim.SGD / AdamW (PyTorch 1.13), applied to a whole group in one call.
WSSS_EXPORT int32_t wsss_sgd_step(wsss_tensor* const* params, wsss_tensor** momentum_buffers, int32_t count,
                                  double lr, double momentum, double dampening, double weight_decay,
                                  int32_t nesterov) {
    return wsss::guarded([&] {
        at::NoGradGuard no_grad;
        for (int32_t i = 0; i < count; ++i) {
            at::Tensor& p = *params[i];
            const auto& g0 = p.grad();
            if (!g0.defined()) continue;
            at::Tensor d = weight_decay != 0 ? g0.add(p, weight_decay) : g0;
            if (momentum != 0) {
                if (momentum_buffers[i] == nullptr) {
                    momentum_buffers[i] = wrap(d.clone());
                } else {
                    momentum_buffers[i]->mul_(momentum).add_(d, 1 - dampening);
                }
                const at::Tensor& buf = *momentum_buffers[i];
                d = nesterov ? d.add(buf, momentum) : buf;
            }
            p.add_(d, -lr);
        }
    });
}

WSSS_EXPORT int32_t wsss_adamw_step(wsss_tensor* const* params, wsss_tensor** exp_avg, wsss_tensor** exp_avg_sq,
                                    int32_t count, double lr, double beta1, double beta2, double eps,
                                    double weight_decay, int64_t step) {
    return wsss::guarded([&] {
        at::NoGradGuard no_grad;
        if (step < 1) throw std::invalid_argument("AdamW step counts from 1");
        double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
        double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
        for (int32_t i = 0; i < count; ++i) {
            at::Tensor& p = *params[i];
            const auto& g = p.grad();
            if (!g.defined()) continue;
            if (exp_avg[i] == nullptr) exp_avg[i] = wrap(at::zeros_like(p));
            if (exp_avg_sq[i] == nullptr) exp_avg_sq[i] = wrap(at::zeros_like(p));
            p.mul_(1 - lr * weight_decay);
            exp_avg[i]->mul_(beta1).add_(g, 1 - beta1);
            exp_avg_sq[i]->mul_(beta2).addcmul_(g, g, 1 - beta2);
            auto denom = (exp_avg_sq[i]->sqrt() / std::sqrt(bc2)).add_(eps);
            p.addcdiv_(*exp_avg[i], denom, -lr / bc1);
        }
    });
}
