"""gradcam-tui: the Textual explorer over a gradcam cache. Imports no torch."""
