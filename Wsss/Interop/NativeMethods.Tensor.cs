using System.Runtime.InteropServices;

namespace Wsss.Interop;

/// <summary>Op codes of wsss_unary; the order is the switch in native/src/tensor.cpp.</summary>
internal enum UnaryOp
{
    Neg, Exp, Log, Sqrt, Abs, Relu, Sigmoid, Tanh, Relu6, Floor, Ceil, Round, LogicalNot, Sign, Square, Log1p, Rsqrt,
    IsNan, IsFinite, ZerosLike, OnesLike,
}

/// <summary>Op codes of wsss_binary and wsss_binary_scalar.</summary>
internal enum BinaryOp
{
    Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, ReverseSub, ReverseDiv,
}

/// <summary>Op codes of wsss_inplace.</summary>
internal enum InPlaceOp
{
    Add, Sub, Mul, Div, Copy, Fill, Zero, ClampMin, Pow, Relu6,
}

/// <summary>Op codes of wsss_reduce.</summary>
internal enum ReduceOp
{
    Sum, Mean, Amax, Amin, Prod, LogSumExp,
}

internal static unsafe partial class NativeMethods
{
    // ---- runtime
    [LibraryImport(Library)] internal static partial int wsss_set_num_threads(int threads);
    [LibraryImport(Library)] internal static partial int wsss_get_num_threads(out int threads);
    [LibraryImport(Library)] internal static partial int wsss_manual_seed(ulong seed);
    [LibraryImport(Library)] internal static partial int wsss_cuda_device_count(out int count);
    [LibraryImport(Library)] internal static partial int wsss_cuda_synchronize(int deviceIndex);
    [LibraryImport(Library)] internal static partial int wsss_configure_allocator(long mmapThreshold, long trimThreshold, long topPad);
    [LibraryImport(Library)] internal static partial int wsss_get_rng_state(out nint state);
    [LibraryImport(Library)] internal static partial int wsss_set_rng_state(TensorHandle state);

    // ---- creation, data, metadata
    [LibraryImport(Library)] internal static partial int wsss_tensor_free(nint t);
    [LibraryImport(Library)] internal static partial int wsss_tensor_from_data(void* data, long nbytes, int dtype, long* shape, int ndim, int deviceType, int deviceIndex, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_tensor_full(long* shape, int ndim, double value, int dtype, int deviceType, int deviceIndex, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_tensor_random(long* shape, int ndim, int kind, int dtype, int deviceType, int deviceIndex, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_tensor_arange(double start, double end, double step, int dtype, int deviceType, int deviceIndex, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_tensor_copy_to(TensorHandle t, void* destination, long nbytes);
    [LibraryImport(Library)] internal static partial int wsss_tensor_info(TensorHandle t, out int dtype, out int ndim, out int deviceType, out int deviceIndex, out int requiresGrad);
    [LibraryImport(Library)] internal static partial int wsss_tensor_shape(TensorHandle t, long* shape, int capacity);
    [LibraryImport(Library)] internal static partial int wsss_tensor_item(TensorHandle t, out double value);
    [LibraryImport(Library)] internal static partial int wsss_tensor_to(TensorHandle t, int dtype, int deviceType, int deviceIndex, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_tensor_clone(TensorHandle t, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_tensor_contiguous(TensorHandle t, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_tensor_channels_last(TensorHandle t, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_tensor_set_data(TensorHandle t, TensorHandle source);

    // ---- elementwise
    [LibraryImport(Library)] internal static partial int wsss_unary(int op, TensorHandle a, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_binary(int op, TensorHandle a, TensorHandle b, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_binary_scalar(int op, TensorHandle a, double b, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_inplace(int op, TensorHandle a, nint b, double scalar);
    [LibraryImport(Library)] internal static partial int wsss_clamp(TensorHandle a, double min, double max, int hasMin, int hasMax, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_where(TensorHandle condition, TensorHandle a, TensorHandle b, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_masked_fill(TensorHandle a, TensorHandle mask, double value, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_matmul(TensorHandle a, TensorHandle b, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_uniform_(TensorHandle a, double low, double high);
    [LibraryImport(Library)] internal static partial int wsss_normal_(TensorHandle a, double mean, double std);

    // ---- reductions
    [LibraryImport(Library)] internal static partial int wsss_reduce(int op, TensorHandle a, long* dims, int ndims, int keepdim, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_reduce_with_indices(int op, TensorHandle a, long dim, int keepdim, out nint values, out nint indices);
    [LibraryImport(Library)] internal static partial int wsss_argmax(TensorHandle a, long dim, int keepdim, out nint result);

    // ---- views and shape
    [LibraryImport(Library)] internal static partial int wsss_reshape(TensorHandle a, long* shape, int ndim, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_permute(TensorHandle a, long* dims, int ndim, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_expand(TensorHandle a, long* shape, int ndim, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_slice(TensorHandle a, long dim, long start, long end, long step, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_select(TensorHandle a, long dim, long index, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_squeeze(TensorHandle a, long dim, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_unsqueeze(TensorHandle a, long dim, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_flip(TensorHandle a, long* dims, int ndims, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_index_select(TensorHandle a, long dim, TensorHandle index, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_gather(TensorHandle a, long dim, TensorHandle index, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_cat(nint* tensors, int count, long dim, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_stack(nint* tensors, int count, long dim, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_pad(TensorHandle a, long* pads, int npads, int mode, double value, out nint result);

    // ---- neural-network functions (optional tensors are passed as raw handles, 0 = none)
    [LibraryImport(Library)] internal static partial int wsss_conv2d(TensorHandle x, TensorHandle weight, nint bias, long* stride, long* padding, long* dilation, long groups, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_batch_norm(TensorHandle x, nint weight, nint bias, nint runningMean, nint runningVar, int training, double momentum, double eps, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_leaky_relu(TensorHandle x, double slope, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_dropout(TensorHandle x, double p, int training, int kind, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_adaptive_avg_pool2d(TensorHandle x, long outH, long outW, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_max_pool2d(TensorHandle x, long* kernel, long* stride, long* padding, long* dilation, int ceilMode, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_avg_pool2d(TensorHandle x, long* kernel, long* stride, long* padding, int ceilMode, int countIncludePad, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_interpolate(TensorHandle x, long outH, long outW, int mode, int alignCorners, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_softmax(TensorHandle x, long dim, int log, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_cross_entropy(TensorHandle input, TensorHandle target, nint weight, long ignoreIndex, int reduction, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_multilabel_soft_margin_loss(TensorHandle input, TensorHandle target, nint weight, int reduction, out nint result);

    // ---- autograd
    [LibraryImport(Library)] internal static partial int wsss_set_requires_grad(TensorHandle t, int requiresGrad);
    [LibraryImport(Library)] internal static partial int wsss_grad(TensorHandle t, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_zero_grad(TensorHandle t);
    [LibraryImport(Library)] internal static partial int wsss_backward(TensorHandle t, nint gradient, int retainGraph);
    [LibraryImport(Library)] internal static partial int wsss_detach(TensorHandle t, out nint result);
    [LibraryImport(Library)] internal static partial int wsss_grad_enabled(out int enabled);
    [LibraryImport(Library)] internal static partial int wsss_set_grad_enabled(int enabled);

    // ---- optimisers (arrays of raw handles; the caller keeps the tensors alive)
    [LibraryImport(Library)] internal static partial int wsss_sgd_step(nint* parameters, nint* momentumBuffers, int count, double lr, double momentum, double dampening, double weightDecay, int nesterov);
    [LibraryImport(Library)] internal static partial int wsss_adamw_step(nint* parameters, nint* expAvg, nint* expAvgSq, int count, double lr, double beta1, double beta2, double eps, double weightDecay, long step);
}
