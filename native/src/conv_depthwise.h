#pragma once
#include <ATen/ATen.h>

namespace wsss {

// True when conv2d(x, weight, stride, padding, dilation, groups) is a dilated depthwise convolution whose
// backward oneDNN runs on its slow reference path (see conv_depthwise.cpp), and the fast replacement applies.
bool use_fast_depthwise_dilated(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef stride,
                                at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups);

// The same convolution (no bias) with a hand-written backward; forward is at::conv2d.
at::Tensor depthwise_dilated_conv2d(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef padding,
                                    at::IntArrayRef dilation);

}  // namespace wsss
