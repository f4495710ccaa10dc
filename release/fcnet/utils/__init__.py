"""Course utilities shipped beside nnl/: gradient checks, data loading and the solver."""
