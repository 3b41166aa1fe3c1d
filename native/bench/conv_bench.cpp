// The C++ side of the binding benchmark: the same conv2d as Wsss.Samples' `bench engine`
// (batch 8, 64->64 channels, 3x3, padding 1, 56x56), timed directly against libtorch so the C#
// figure can be compared with no binding in between. Usage: wsss_conv_bench [threads] [iterations]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
    int threads = argc > 1 ? std::atoi(argv[1]) : 1;
    int iterations = argc > 2 ? std::atoi(argv[2]) : 20;
    at::set_num_threads(threads);
    torch::NoGradGuard no_grad;
    torch::manual_seed(0);
    auto x = torch::randn({8, 64, 56, 56});
    auto w = torch::randn({64, 64, 3, 3});
    auto b = torch::randn({64});
    for (int i = 0; i < 3; ++i) torch::conv2d(x, w, b, 1, 1);
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto y = torch::conv2d(x, w, b, 1, 1);
        auto t1 = std::chrono::steady_clock::now();
        ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    double median = ms[ms.size() / 2];
    double flops = 2.0 * 8 * 64 * 56 * 56 * 64 * 9;
    std::printf("threads=%d median_ms=%.3f gflops=%.1f\n", threads, median, flops / (median * 1e6));
    return 0;
}
