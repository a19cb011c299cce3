"""Reference designs the benchmark measures Arcade against, served in the same run."""
