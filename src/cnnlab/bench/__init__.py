"""Benchmarks of the training step: throughput, FLOPs, the machine's matmul peak, a textbook baseline.

    from cnnlab.bench import bench_train, format_result
    print(format_result(bench_train("fastnet", data="fashion-mnist", precision="bf16", channels_last=True)))
"""
from cnnlab.inspect.flops import StepFlops, step_flops
from cnnlab.bench.peak import matmul_gflops
from cnnlab.bench.throughput import BenchResult, LoopTiming, bench_train, format_result, machine_line

__all__ = ["BenchResult", "LoopTiming", "StepFlops", "bench_train", "format_result", "machine_line",
           "matmul_gflops", "step_flops"]
