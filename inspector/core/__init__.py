"""The Qt-free core: reading stores, decoding events, detection, demo data and benchmarks."""
