"""Load scenarios and benchmarks; results are written under bench/results/."""
