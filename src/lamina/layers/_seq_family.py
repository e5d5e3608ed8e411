"""Re-exports of the normalization, embedding and recurrent layers."""

__all__: list[str] = []
