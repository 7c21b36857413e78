"""gradcam-tui engine: the headless half (data -> model -> one pass -> Grad-CAM -> analysis -> cache -> reports).

Importing this package imports no torch: the torch-free modules (cache, analysis, reports) are used by the TUI.
"""

__version__ = "0.1.0"
