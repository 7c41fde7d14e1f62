"""Benchmarks that live with the code: each runs beside a peer and stores its JSON result."""
