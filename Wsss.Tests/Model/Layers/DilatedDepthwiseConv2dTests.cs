using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using Wsss.Model;
using Wsss.Model.Layers;
using static TorchSharp.torch;

namespace Wsss.Tests.Model.Layers;

/// <summary>The managed weight gradient of dilated depthwise convolutions against libtorch's own autograd.</summary>
[TestClass]
public sealed class DilatedDepthwiseConv2dTests
{
    [TestMethod]
    [DataRow(24, 17, 2, true, true)]
    [DataRow(13, 9, 3, false, true)]     // channel count not a multiple of the vector width; bias
    [DataRow(16, 11, 4, true, false)]    // dilation as large as MobileNetV1's last layer; no bias
    [DataRow(8, 3, 2, false, false)]     // the image is smaller than the dilated kernel: most taps fall outside
    public void OutputAndAllGradients_EqualLibtorchs(int channels, int size, int dilation, bool channelsLast, bool withBias)
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        Tensor x = randn(3, channels, size, size + 2);
        if (channelsLast)
        {
            x = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        }

        var w = randn(channels, 1, 3, 3);
        var b = randn(channels);
        var g = randn(3, channels, size, size + 2);
        var (x1, w1, b1) = (x.clone().requires_grad_(true), w.clone().requires_grad_(true), b.clone().requires_grad_(true));
        var (x2, w2, b2) = (x.clone().requires_grad_(true), w.clone().requires_grad_(true), b.clone().requires_grad_(true));

        Tensor expected = nn.functional.conv2d(x1, w1, withBias ? b1 : null, [1, 1], [dilation, dilation], [dilation, dilation], channels);
        Assert.IsTrue(DilatedDepthwiseConv2d.Applies(x2, w2, 1, dilation, channels, dilation));
        Tensor actual = DilatedDepthwiseConv2d.Forward(x2, w2, withBias ? b2 : null, dilation, dilation);
        Tensor[] inputs1 = withBias ? [x1, w1, b1] : [x1, w1];
        Tensor[] inputs2 = withBias ? [x2, w2, b2] : [x2, w2];
        var e = torch.autograd.grad([expected], inputs1, [g]);
        var a = torch.autograd.grad([actual], inputs2, [g]);

        AssertClose(expected, actual, "output");
        AssertClose(e[0], a[0], "input gradient");
        AssertClose(e[1], a[1], "weight gradient");
        if (withBias)
        {
            AssertClose(e[2], a[2], "bias gradient");
        }
    }

    [TestMethod]
    public void AppliesOnlyWhereItIsTheSameConvolution()
    {
        using var scope = NewDisposeScope();
        var x = randn(1, 8, 9, 9).requires_grad_(true);
        var w = randn(8, 1, 3, 3).requires_grad_(true);
        Assert.IsTrue(DilatedDepthwiseConv2d.Applies(x, w, stride: 1, dilation: 2, groups: 8, padding: 2));
        Assert.IsFalse(DilatedDepthwiseConv2d.Applies(x, w, stride: 1, dilation: 1, groups: 8, padding: 1), "undilated: libtorch's is fast");
        Assert.IsFalse(DilatedDepthwiseConv2d.Applies(x, w, stride: 2, dilation: 2, groups: 8, padding: 2), "strided");
        Assert.IsFalse(DilatedDepthwiseConv2d.Applies(x, w, stride: 1, dilation: 2, groups: 8, padding: 1), "not 'same' padding");
        Assert.IsFalse(DilatedDepthwiseConv2d.Applies(x, randn(8, 2, 3, 3), stride: 1, dilation: 2, groups: 4, padding: 2), "grouped, not depthwise");
        using (no_grad())
        {
            Assert.IsFalse(DilatedDepthwiseConv2d.Applies(x, w, stride: 1, dilation: 2, groups: 8, padding: 2), "no gradients recorded");
        }

        Assert.IsFalse(DilatedDepthwiseConv2d.Applies(x.detach(), w.detach(), stride: 1, dilation: 2, groups: 8, padding: 2), "nothing requires a gradient");
        Assert.IsFalse(DilatedDepthwiseConv2d.Applies(x.to(ScalarType.Float64), w.to(ScalarType.Float64), stride: 1, dilation: 2, groups: 8, padding: 2), "float64");
    }

    [TestMethod]
    public void MobileNetV1AtOutputStride8_GivesLibtorchsGradients()
    {
        // The network routes its dilated layers through the managed backward; a copy whose convolutions go
        // through libtorch alone (eval-mode forward under a grad-enabled reference path) must agree.
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var net = new MobileNetV1(0.25);
        var x = randn(2, 3, 48, 48);
        var loss = net.forward(x).square().sum();
        var grads = torch.autograd.grad([loss], net.parameters().Where(p => p.requires_grad).ToArray());

        // The same loss with every convolution of libtorch: the plain conv2d over the same folded weights.
        var reference = ReferenceForward(net, x).square().sum();
        var expected = torch.autograd.grad([reference], net.parameters().Where(p => p.requires_grad).ToArray());
        for (int i = 0; i < grads.Count; i++)
        {
            AssertClose(expected[i], grads[i], $"parameter {i}");
        }
    }

    // MobileNetV1's forward with frozen BatchNorm folded, written with plain libtorch convolutions only.
    private static Tensor ReferenceForward(MobileNetV1 net, Tensor input)
    {
        Tensor x = input;
        var named = net.named_children().ToDictionary(c => c.name, c => c.module);
        foreach (var (name, module) in net.named_children())
        {
            if (module is not TfSameConv2d conv)
            {
                continue;
            }

            var bn = (FreezableBatchNorm2d)named[name + "_bn"];
            var (scale, shift) = bn.FrozenAffine();
            var folded = conv.Weight * scale.reshape(-1, 1, 1, 1);
            var (top, bottom) = TfSameConv2d.SamePadding(x.shape[2], conv.KernelSize, conv.Stride, conv.Dilation);
            var (left, right) = TfSameConv2d.SamePadding(x.shape[3], conv.KernelSize, conv.Stride, conv.Dilation);
            var padded = nn.functional.pad(x, [left, right, top, bottom]);
            x = nn.functional.conv2d(padded, folded, shift, [conv.Stride, conv.Stride], [0, 0], [conv.Dilation, conv.Dilation], conv.Groups).clamp(0, 6);
        }

        return x;
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        CollectionAssert.AreEqual(expected.shape, actual.shape, what);
        double scale = Math.Max(1e-12, expected.abs().max().item<float>());
        double diff = (expected - actual).abs().max().item<float>();
        Assert.IsTrue(diff <= 1e-5 * scale + 1e-6, $"{what}: max abs diff {diff:G3} of max {scale:G3}");
    }
}
