/* Tensors, operations, autograd, optimisers and runtime settings (libtorch). */
#ifndef WSSS_TENSOR_H
#define WSSS_TENSOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque owned tensor handle (an at::Tensor on the heap). NULL stands for "no tensor" where optional. */
typedef struct wsss_tensor wsss_tensor;

/* dtype codes are libtorch's c10::ScalarType values: 0 uint8, 1 int8, 3 int32, 4 int64, 6 float32,
   7 float64, 11 bool. Device type codes: 0 cpu, 1 cuda. */

/* ---- runtime ---- */
int32_t wsss_set_num_threads(int32_t threads);
int32_t wsss_get_num_threads(int32_t* threads);
int32_t wsss_manual_seed(uint64_t seed);
int32_t wsss_cuda_device_count(int32_t* count);
int32_t wsss_cuda_synchronize(int32_t device_index);
/* glibc allocator tuning: keep freed large blocks in the heap instead of returning them to the kernel. */
int32_t wsss_configure_allocator(int64_t mmap_threshold, int64_t trim_threshold, int64_t top_pad);
int32_t wsss_get_rng_state(wsss_tensor** out);
int32_t wsss_set_rng_state(const wsss_tensor* state);

/* ---- creation, data, metadata ---- */
int32_t wsss_tensor_free(wsss_tensor* t);
int32_t wsss_tensor_from_data(const void* data, int64_t nbytes, int32_t dtype, const int64_t* shape, int32_t ndim,
                              int32_t device_type, int32_t device_index, wsss_tensor** out);
int32_t wsss_tensor_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype, int32_t device_type,
                         int32_t device_index, wsss_tensor** out);
/* kind: 0 uniform [0,1), 1 standard normal */
int32_t wsss_tensor_random(const int64_t* shape, int32_t ndim, int32_t kind, int32_t dtype, int32_t device_type,
                           int32_t device_index, wsss_tensor** out);
int32_t wsss_tensor_arange(double start, double end, double step, int32_t dtype, int32_t device_type,
                           int32_t device_index, wsss_tensor** out);
int32_t wsss_tensor_copy_to(const wsss_tensor* t, void* destination, int64_t nbytes);
int32_t wsss_tensor_info(const wsss_tensor* t, int32_t* dtype, int32_t* ndim, int32_t* device_type,
                         int32_t* device_index, int32_t* requires_grad);
int32_t wsss_tensor_shape(const wsss_tensor* t, int64_t* shape, int32_t capacity);
int32_t wsss_tensor_item(const wsss_tensor* t, double* value);
int32_t wsss_tensor_to(const wsss_tensor* t, int32_t dtype, int32_t device_type, int32_t device_index,
                       wsss_tensor** out);
int32_t wsss_tensor_clone(const wsss_tensor* t, wsss_tensor** out);
int32_t wsss_tensor_contiguous(const wsss_tensor* t, wsss_tensor** out);
/* The same values in channels-last (NHWC) memory order; shape and indexing unchanged. 4-d only. */
int32_t wsss_tensor_channels_last(const wsss_tensor* t, wsss_tensor** out);
/* Replaces t's storage by src's data in place (keeps the handle: parameters moved to another device). */
int32_t wsss_tensor_set_data(wsss_tensor* t, const wsss_tensor* src);

/* ---- elementwise ---- */
/* unary op codes: see UnaryOp in Wsss/Interop/NativeMethods.Tensor.cs (same order as the switch in tensor.cpp) */
int32_t wsss_unary(int32_t op, const wsss_tensor* a, wsss_tensor** out);
int32_t wsss_binary(int32_t op, const wsss_tensor* a, const wsss_tensor* b, wsss_tensor** out);
int32_t wsss_binary_scalar(int32_t op, const wsss_tensor* a, double b, wsss_tensor** out);
/* in place on a: op on (a, b) or (a, scalar) when b is NULL */
int32_t wsss_inplace(int32_t op, wsss_tensor* a, const wsss_tensor* b, double scalar);
int32_t wsss_clamp(const wsss_tensor* a, double min, double max, int32_t has_min, int32_t has_max, wsss_tensor** out);
int32_t wsss_where(const wsss_tensor* condition, const wsss_tensor* a, const wsss_tensor* b, wsss_tensor** out);
int32_t wsss_masked_fill(const wsss_tensor* a, const wsss_tensor* mask, double value, wsss_tensor** out);
int32_t wsss_matmul(const wsss_tensor* a, const wsss_tensor* b, wsss_tensor** out);
int32_t wsss_uniform_(wsss_tensor* a, double low, double high);
int32_t wsss_normal_(wsss_tensor* a, double mean, double std);

/* ---- reductions ---- */
/* op: 0 sum, 1 mean, 2 amax, 3 amin, 4 prod, 5 logsumexp; ndims == 0 reduces all dimensions */
int32_t wsss_reduce(int32_t op, const wsss_tensor* a, const int64_t* dims, int32_t ndims, int32_t keepdim,
                    wsss_tensor** out);
/* op: 0 max, 1 min; values and indices along dim */
int32_t wsss_reduce_with_indices(int32_t op, const wsss_tensor* a, int64_t dim, int32_t keepdim,
                                 wsss_tensor** values, wsss_tensor** indices);
/* dim < -1000 means over the flattened tensor */
int32_t wsss_argmax(const wsss_tensor* a, int64_t dim, int32_t keepdim, wsss_tensor** out);

/* ---- views and shape ---- */
int32_t wsss_reshape(const wsss_tensor* a, const int64_t* shape, int32_t ndim, wsss_tensor** out);
int32_t wsss_permute(const wsss_tensor* a, const int64_t* dims, int32_t ndim, wsss_tensor** out);
int32_t wsss_expand(const wsss_tensor* a, const int64_t* shape, int32_t ndim, wsss_tensor** out);
int32_t wsss_slice(const wsss_tensor* a, int64_t dim, int64_t start, int64_t end, int64_t step, wsss_tensor** out);
int32_t wsss_select(const wsss_tensor* a, int64_t dim, int64_t index, wsss_tensor** out);
int32_t wsss_squeeze(const wsss_tensor* a, int64_t dim, wsss_tensor** out);
int32_t wsss_unsqueeze(const wsss_tensor* a, int64_t dim, wsss_tensor** out);
int32_t wsss_flip(const wsss_tensor* a, const int64_t* dims, int32_t ndims, wsss_tensor** out);
int32_t wsss_index_select(const wsss_tensor* a, int64_t dim, const wsss_tensor* index, wsss_tensor** out);
int32_t wsss_gather(const wsss_tensor* a, int64_t dim, const wsss_tensor* index, wsss_tensor** out);
int32_t wsss_cat(wsss_tensor* const* tensors, int32_t count, int64_t dim, wsss_tensor** out);
int32_t wsss_stack(wsss_tensor* const* tensors, int32_t count, int64_t dim, wsss_tensor** out);
/* mode: 0 constant, 1 reflect, 2 replicate; pads in torch.nn.functional.pad order (last dim first) */
int32_t wsss_pad(const wsss_tensor* a, const int64_t* pads, int32_t npads, int32_t mode, double value,
                 wsss_tensor** out);

/* ---- neural-network functions ---- */
int32_t wsss_conv2d(const wsss_tensor* x, const wsss_tensor* weight, const wsss_tensor* bias, const int64_t* stride,
                    const int64_t* padding, const int64_t* dilation, int64_t groups, wsss_tensor** out);
int32_t wsss_batch_norm(const wsss_tensor* x, const wsss_tensor* weight, const wsss_tensor* bias,
                        wsss_tensor* running_mean, wsss_tensor* running_var, int32_t training, double momentum,
                        double eps, wsss_tensor** out);
int32_t wsss_leaky_relu(const wsss_tensor* x, double slope, wsss_tensor** out);
/* kind: 0 dropout, 1 dropout2d (whole channels) */
int32_t wsss_dropout(const wsss_tensor* x, double p, int32_t training, int32_t kind, wsss_tensor** out);
int32_t wsss_adaptive_avg_pool2d(const wsss_tensor* x, int64_t out_h, int64_t out_w, wsss_tensor** out);
int32_t wsss_max_pool2d(const wsss_tensor* x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                        const int64_t* dilation, int32_t ceil_mode, wsss_tensor** out);
int32_t wsss_avg_pool2d(const wsss_tensor* x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                        int32_t ceil_mode, int32_t count_include_pad, wsss_tensor** out);
/* mode: 0 nearest, 1 bilinear; align_corners: -1 unset (nearest), 0 false, 1 true */
int32_t wsss_interpolate(const wsss_tensor* x, int64_t out_h, int64_t out_w, int32_t mode, int32_t align_corners,
                         wsss_tensor** out);
int32_t wsss_softmax(const wsss_tensor* x, int64_t dim, int32_t log, wsss_tensor** out);
/* reduction: 0 none, 1 mean, 2 sum */
int32_t wsss_cross_entropy(const wsss_tensor* input, const wsss_tensor* target, const wsss_tensor* weight,
                           int64_t ignore_index, int32_t reduction, wsss_tensor** out);
int32_t wsss_multilabel_soft_margin_loss(const wsss_tensor* input, const wsss_tensor* target,
                                         const wsss_tensor* weight, int32_t reduction, wsss_tensor** out);

/* ---- autograd ---- */
int32_t wsss_set_requires_grad(wsss_tensor* t, int32_t requires_grad);
/* *out is NULL when the tensor has no gradient */
int32_t wsss_grad(const wsss_tensor* t, wsss_tensor** out);
int32_t wsss_zero_grad(wsss_tensor* t);
int32_t wsss_backward(const wsss_tensor* t, const wsss_tensor* gradient, int32_t retain_graph);
int32_t wsss_detach(const wsss_tensor* t, wsss_tensor** out);
int32_t wsss_grad_enabled(int32_t* enabled);
int32_t wsss_set_grad_enabled(int32_t enabled);

/* ---- optimisers (one call updates a whole parameter group, no per-parameter round trips) ---- */
/* momentum_buffers[i] may be NULL: it is created on first use and returned in place */
int32_t wsss_sgd_step(wsss_tensor* const* params, wsss_tensor** momentum_buffers, int32_t count, double lr,
                      double momentum, double dampening, double weight_decay, int32_t nesterov);
int32_t wsss_adamw_step(wsss_tensor* const* params, wsss_tensor** exp_avg, wsss_tensor** exp_avg_sq, int32_t count,
                        double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step);

#ifdef __cplusplus
}
#endif

#endif
