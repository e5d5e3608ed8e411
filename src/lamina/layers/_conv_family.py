"""Re-exports of the convolution, pooling, shape, noise and preprocessing layers."""

__all__: list[str] = []
