"""What a run means: pure functions of the cache's arrays, each returning a frozen dataclass or a Table.

    metrics          accuracy, confusion matrix, per-class / per-superclass figures, most confused pairs
    selections       the worst and best examples of each class
    calibration      ECE/MCE, NLL, Brier, temperature scaling (held out)
    stats            bootstrap intervals over images; a claim is made only above its baseline
    attention        background focus, diffuseness, true/pred map overlap, per class and per pair
    attention_ranking  the one ranking of classes by attention (minimum count, interval, baseline)
    map_agreement    true- vs predicted-class maps of errors against correct predictions' top-1 vs top-2
    sanity           the random-logit sanity check from the stored maps
    label_suspects   confident-learning label suspects
    suspect_precision  how many suspects clean labels would produce: the suspects' estimated precision
    cam_maps         a stored map as it is shown (upsampling, min-max)
    compare          two runs on the same test set
    recommendations  a registry of small rules (numbers only; the wording is in engine.reports)
    analysed_run     AnalysedRun: a cache with its analyses, each computed once
"""
