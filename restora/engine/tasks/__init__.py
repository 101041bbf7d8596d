"""Task logic: which model, channels, alpha, tiling. One module per task."""
