#!/usr/bin/python3
"""PyTorch side of `Wsss.Samples bench engine`: the same micro-measurements as the C# side.

Dilated depthwise 3x3 convolutions (4 x 384 x 41 x 41, MobileNetV1's conv_dw_7..13 at output stride 8),
forward without gradients and forward + backward (input and weight gradients), at dilations 1, 2 and 4;
and the cost of a 1-element add. Prints one JSON object of medians.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def median_ms(fn, rounds, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    result = {"torch": torch.__version__, "threads": args.threads}
    x = torch.randn(4, 384, 41, 41).contiguous(memory_format=torch.channels_last)
    for d in (1, 2, 4):
        w = torch.randn(384, 1, 3, 3, requires_grad=True)
        xg = x.clone().requires_grad_(True)

        def forward():
            with torch.no_grad():
                F.conv2d(x, w, None, 1, d, d, 384)

        def backward():
            xg.grad = None
            w.grad = None
            F.conv2d(xg, w, None, 1, d, d, 384).sum().backward()

        result[f"dw_d{d}_forward_ms"] = median_ms(forward, args.rounds)
        result[f"dw_d{d}_backward_ms"] = median_ms(backward, args.rounds)
    a = torch.ones(1)
    b = torch.ones(1)
    n = 20000

    def adds():
        for _ in range(n):
            a + b

    result["add_ns"] = median_ms(adds, args.rounds) * 1e6 / n
    print(json.dumps(result))


if __name__ == "__main__":
    main()
