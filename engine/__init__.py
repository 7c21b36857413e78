"""gradcam-tui engine: the headless half (data -> model -> one pass -> Grad-CAM -> cache -> analysis -> reports).

Importing this package imports no torch: everything after the cache (store, analysis, figures, reports) is
torch-free, and is what the TUI uses.
"""

__version__ = "0.1.0"
