using System.Diagnostics;
using Wsss.Imaging;
using TorchSharp;
using Wsss.Engine;
using Wsss.Model;
using Wsss.Training;
using static TorchSharp.torch;

namespace Wsss.Samples;

/// <summary>
/// A smoke test of the whole engine that a user can watch: a tiny fully convolutional network learns to
/// segment bright squares from a noisy background on CPU (or CUDA), then writes its prediction as a PNG.
/// </summary>
internal static class EngineDemo
{
    public static int Run(string outputDirectory, int steps, Device device)
    {
        Devices.EnsureAvailable(device);
        Directory.CreateDirectory(outputDirectory);
        manual_seed((long)1);
        var rng = new Random(1);
        Console.WriteLine($"engine demo: device {device}, {TorchEngine.Threads} threads, {steps} steps");

        using var net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding: 1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding: 2, dilation: 2), nn.ReLU(),
            nn.Conv2d(16, 2, 1));
        net.to(device);
        // The library's SGD (the same update as torch.optim.SGD, with its Scalars kept alive: see GroupedSgd).
        using var sgd = new GroupedSgd([new RrmParameterGroup("all", net.parameters().ToList(), 1, 0)], 0.05, momentum: 0.9);

        var clock = Stopwatch.StartNew();
        double firstLoss = double.NaN, loss = double.NaN;
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var (images, labels) = Batch(rng, 8, 32, device);
            var logits = net.forward(images);
            var ce = nn.functional.cross_entropy(logits, labels);
            sgd.ZeroGrad();
            ce.backward();
            sgd.Step();
            loss = ce.ToDouble();
            if (step == 0)
            {
                firstLoss = loss;
            }

            if (step % 50 == 0 || step == steps - 1)
            {
                Console.WriteLine($"  step {step,4}  loss {loss:F4}  {clock.Elapsed.TotalSeconds:F1}s");
            }
        }

        net.eval();
        using (no_grad())
        using (NewDisposeScope())
        {
            var (images, labels) = Batch(new Random(99), 1, 64, device);
            var predicted = net.forward(images).argmax(1).to(ScalarType.Byte, CPU).ToArrayFast<byte>();
            var truth = labels.to(ScalarType.Byte, CPU).ToArrayFast<byte>();
            double accuracy = predicted.Zip(truth).Count(p => p.First == p.Second) / (double)truth.Length;
            var picture = new RgbImage(64, 128);
            using var byteMax = 255.ToScalar();
            var input = images.Times(255).clamp(Scalars.Zero, byteMax).to(ScalarType.Byte, CPU).ToArrayFast<byte>();
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

        return (tensor(pixels, [n, 3, size, size], device: device), tensor(labels, [n, size, size], device: device));
    }
}
