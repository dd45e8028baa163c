"""The transformer under study: loading (fail-closed on the GPU), hooks on its blocks, the gain, batched forwards."""
