using System.Diagnostics;
using Wsss.Imaging;
using Wsss.Torch;
using Wsss.Torch.Nn;
using Wsss.Torch.Optim;
using F = Wsss.Torch.Functional;

namespace Wsss.Samples;

/// <summary>
/// A smoke test of the whole engine that a user can watch: a tiny fully convolutional network learns to
/// segment bright squares from a noisy background on CPU (or CUDA), then writes its prediction as a PNG.
/// </summary>
internal static class EngineDemo
{
    public static int Run(string outputDirectory, int steps, Device device)
    {
        device.EnsureAvailable();
        Directory.CreateDirectory(outputDirectory);
        Torch.Torch.ManualSeed(1);
        var rng = new Random(1);
        Console.WriteLine($"engine demo: device {device}, {Torch.Torch.Threads} threads, {steps} steps");

        using var net = new Sequential(
            new Conv2d(3, 16, 3, padding: 1), new Lambda(F.Relu),
            new Conv2d(16, 16, 3, padding: 2, dilation: 2), new Lambda(F.Relu),
            new Conv2d(16, 2, 1));
        net.To(device);
        using var sgd = new Sgd([new ParameterGroup("all", net.Parameters())], learningRate: 0.05, momentum: 0.9);

        var clock = Stopwatch.StartNew();
        double firstLoss = double.NaN, loss = double.NaN;
        for (int step = 0; step < steps; step++)
        {
            using var scope = Torch.Torch.NewDisposeScope();
            var (images, labels) = Batch(rng, 8, 32, device);
            var logits = net.Forward(images);
            var ce = F.CrossEntropy(logits, labels);
            sgd.ZeroGrad();
            ce.Backward();
            sgd.Step();
            loss = ce.Item();
            if (step == 0)
            {
                firstLoss = loss;
            }

            if (step % 50 == 0 || step == steps - 1)
            {
                Console.WriteLine($"  step {step,4}  loss {loss:F4}  {clock.Elapsed.TotalSeconds:F1}s");
            }
        }

        net.Eval();
        using (Torch.Torch.NoGrad())
        using (Torch.Torch.NewDisposeScope())
        {
            var (images, labels) = Batch(new Random(99), 1, 64, device);
            var predicted = net.Forward(images).Argmax(1).To(DType.UInt8, Device.Cpu).ToArray<byte>();
            var truth = labels.To(DType.UInt8, Device.Cpu).ToArray<byte>();
            double accuracy = predicted.Zip(truth).Count(p => p.First == p.Second) / (double)truth.Length;
            var picture = new RgbImage(64, 128);
            var input = (images * 255).Clamp(0, 255).To(DType.UInt8, Device.Cpu).ToArray<byte>();
            for (int y = 0; y < 64; y++)
            {
                for (int x = 0; x < 64; x++)
                {
                    byte v = input[(y * 64) + x];
                    picture[y, x] = (v, input[(64 * 64) + (y * 64) + x], input[(2 * 64 * 64) + (y * 64) + x]);
                    picture[y, 64 + x] = predicted[(y * 64) + x] == 1 ? ((byte)230, (byte)60, (byte)40) : ((byte)20, (byte)20, (byte)20);
                }
            }

            string path = Path.Combine(outputDirectory, "engine-demo.png");
            ImageCodec.SavePng(picture, path);
            Console.WriteLine($"loss {firstLoss:F3} -> {loss:F3}; pixel accuracy on a new image {accuracy:P1}; picture: {Path.GetFullPath(path)}");
            return loss < firstLoss && accuracy > 0.9 ? 0 : 1;
        }
    }

    private static (Tensor Images, Tensor Labels) Batch(Random rng, int n, int size, Device device)
    {
        var pixels = new float[n * 3 * size * size];
        var labels = new long[n * size * size];
        for (int b = 0; b < n; b++)
        {
            int s = rng.Next(size / 5, size / 2), y0 = rng.Next(0, size - s), x0 = rng.Next(0, size - s);
            for (int y = 0; y < size; y++)
            {
                for (int x = 0; x < size; x++)
                {
                    bool inside = y >= y0 && y < y0 + s && x >= x0 && x < x0 + s;
                    labels[(b * size * size) + (y * size) + x] = inside ? 1 : 0;
                    for (int c = 0; c < 3; c++)
                    {
                        float v = (float)(rng.NextDouble() * 0.5) + (inside && c == 0 ? 0.5f : 0f);
                        pixels[(((b * 3) + c) * size * size) + (y * size) + x] = v;
                    }
                }
            }
        }

        return (Torch.Torch.FromArray<float>(pixels, [n, 3, size, size], device), Torch.Torch.FromArray<long>(labels, [n, size, size], device));
    }
}
