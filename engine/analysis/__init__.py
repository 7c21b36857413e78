"""What a run means: pure functions of the cache's arrays, each returning a frozen dataclass or a Table.

    metrics          accuracy, confusion matrix, per-class / per-superclass figures, most confused pairs
    selections       the worst and best examples of each class
    calibration      ECE/MCE, NLL, Brier, temperature scaling (held out)
    attention        background focus, diffuseness, true/pred map overlap, per class and per pair
    label_suspects   confident-learning label suspects
    cam_maps         a stored map as it is shown (upsampling, min-max)
    compare          two runs on the same test set
    recommendations  a registry of small rules (numbers only; the wording is in engine.reports)
    analysed_run     AnalysedRun: a cache with its analyses, each computed once
"""
