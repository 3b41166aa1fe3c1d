// The C++ side of the binding benchmark: the same conv2d as Wsss.Samples' `bench engine`
// (batch 8, 64->64 channels, 3x3, padding 1, 56x56), timed directly against libtorch so the C#
// figure can be compared with no binding in between; then the per-op cost of a 1-element add.
// Usage: wsss_conv_bench [threads] [iterations] [tuned]
// "tuned" applies the same glibc settings as Torch.ConfigureAllocator(), so both sides allocate alike.
#include <torch/torch.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
    int threads = argc > 1 ? std::atoi(argv[1]) : 1;
    int iterations = argc > 2 ? std::atoi(argv[2]) : 20;
    if (argc > 3 && std::strcmp(argv[3], "tuned") == 0) {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        mallopt(M_TOP_PAD, 64 << 20);
    }
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

    // The cost of a tiny op straight on libtorch (1-element add, result allocated and freed), which the
    // C# benchmark subtracts from its own figure for the same add to get the binding's overhead.
    auto a = torch::ones({1});
    auto b2 = torch::ones({1});
    const int inner = 20000;
    std::vector<double> ns;
    for (int r = 0; r < 15; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < inner; ++i) {
            auto c = a + b2;
        }
        auto t1 = std::chrono::steady_clock::now();
        ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / inner);
    }
    std::sort(ns.begin(), ns.end());
    std::printf("add_median_ns=%.1f\n", ns[ns.size() / 2]);
    return 0;
}
