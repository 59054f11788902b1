"""MLX Template Playground: see the exact prompt an MLX model receives, and fix its chat template."""

__version__ = "0.1.0"
