"""AnalysedRun: one cache with its analyses, each computed once, on first use.

The only place where the store meets the analysis: the reports, the printout, compare and the TUI ask an
AnalysedRun for what they show, and every analysis module stays a pure function of arrays. Nothing is
computed until asked for, so opening a run for the TUI's first screen costs the metrics alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from typing import TYPE_CHECKING

from engine.analysis import metrics as metrics_mod
from engine.analysis.selections import Selections, select
from engine.analysis.tables import Table
from engine.store import RunCache, load_cache, resolve_cache_path

if TYPE_CHECKING:  # imported where first used: the first screen needs the metrics alone
    from engine.analysis.attention import Attention
    from engine.analysis.attention_ranking import AttentionRanking
    from engine.analysis.calibration import Calibration
    from engine.analysis.faithfulness import Faithfulness
    from engine.analysis.map_agreement import MapAgreement
    from engine.analysis.sanity import ModelRandomisationCheck, RandomLogitCheck
    from engine.analysis.similar_images import Duplicates
    from engine.analysis.suspect_precision import SuspectPrecision
    from engine.analysis.tta import TTAFigures


def logits_of(cache: RunCache) -> np.ndarray:
    """The cache's logits, or log-probabilities (equal up to a per-image constant) for caches without them."""
    if cache.logits is not None:
        return cache.logits
    return np.log(np.clip(cache.probs.astype(np.float64), 1e-30, 1.0))


@dataclass(eq=False)
class AnalysedRun:
    cache: RunCache

    @property
    def class_names(self) -> list[str]:
        return self.cache.class_names

    @cached_property
    def metrics(self) -> metrics_mod.Metrics:
        c = self.cache
        return metrics_mod.measure(c.labels, c.probs, c.topk_classes, c.class_names, c.superclass_names,
                                   c.class_to_superclass)

    @cached_property
    def selections(self) -> Selections:
        c = self.cache
        return select(c.labels, c.preds, c.confidence.astype(np.float64), c.num_classes)

    @cached_property
    def correct(self) -> np.ndarray:
        return self.cache.labels == self.cache.preds

    @cached_property
    def calibration(self) -> "Calibration":
        from engine.analysis.calibration import calibrate

        return calibrate(logits_of(self.cache), self.cache.labels)

    @cached_property
    def attention(self) -> "Attention":
        from engine.analysis.attention import measure

        c = self.cache
        return measure(c.cam_topk[:, 0], c.cam_true, self.correct, c.image_size, c.masks)

    @cached_property
    def attention_ranking(self) -> "AttentionRanking":
        """The one ranking of classes by background focus (engine.analysis.attention_ranking)."""
        from engine.analysis.attention_ranking import rank

        c = self.cache
        return rank(self.attention, c.labels, c.preds, c.num_classes)

    @cached_property
    def attention_per_class(self) -> Table:
        """Per-class attention figures with the ranking's interval, baseline and rank (0 = not ranked)."""
        from engine.analysis.attention import per_class

        c = self.cache
        table = per_class(self.attention, c.labels, c.preds, c.class_names)
        return Table({**table.columns, **self.attention_ranking.columns()}) if len(table) else table

    @cached_property
    def map_agreement(self) -> "MapAgreement":
        """True- vs predicted-class maps of errors against correct predictions' top-1 vs top-2 maps."""
        from engine.analysis.map_agreement import measure

        c = self.cache
        return measure(c.cam_true, c.cam_topk, self.correct, c.image_size)

    @cached_property
    def sanity(self) -> "RandomLogitCheck":
        """The random-logit sanity check from the stored maps."""
        from engine.analysis.sanity import random_logit

        c = self.cache
        return random_logit(c.cam_topk, c.cam_true, self.correct)

    @cached_property
    def model_randomisation(self) -> "ModelRandomisationCheck":
        """The model-randomisation sanity check --faithfulness measured (not available without it)."""
        from engine.analysis.sanity import model_randomisation

        return model_randomisation(self.cache.sanity_randomised_corr, self.cache.meta)

    @cached_property
    def faithfulness(self) -> "Faithfulness":
        """Deletion/insertion AUCs and confidence drop/increase of the sampled images (--faithfulness)."""
        from engine.analysis.faithfulness import measure

        c = self.cache
        return measure(c.faith_deletion, c.faith_insertion, c.faith_masked)

    @cached_property
    def faithfulness_per_class(self) -> Table:
        from engine.analysis.faithfulness import per_class

        return per_class(self.faithfulness, self.cache.labels, self.class_names)

    @cached_property
    def faithfulness_per_pair(self) -> Table:
        from engine.analysis.faithfulness import per_pair

        c = self.cache
        return per_pair(self.faithfulness, c.labels, c.preds, self.metrics.confused_pairs)

    @cached_property
    def attention_per_pair(self) -> Table:
        from engine.analysis.attention import per_pair

        c = self.cache
        return per_pair(self.attention, c.labels, c.preds, self.metrics.confused_pairs)

    @cached_property
    def suspects(self) -> Table:
        from engine.analysis.label_suspects import label_suspects

        c = self.cache
        return label_suspects(c.probs.astype(np.float64), c.labels, c.class_names)

    def use_suspects(self, table: Table) -> None:
        """Take this ranked list (a label_suspects.csv, e.g. of several runs) as the run's suspects."""
        self.__dict__["suspects"] = table

    @cached_property
    def tta(self) -> "TTAFigures | None":
        """The plain view against the averaged views of a --tta run (None without one)."""
        from engine.analysis.tta import tta_figures

        return tta_figures(self.cache)

    @cached_property
    def suspect_precision(self) -> "SuspectPrecision":
        """How many label suspects clean labels would produce, and the precision that leaves."""
        from engine.analysis.suspect_precision import estimate_precision

        c = self.cache
        return estimate_precision(c.probs.astype(np.float64), logits_of(c), c.labels, c.class_names)

    @cached_property
    def coarse_confusion(self) -> np.ndarray | None:
        c = self.cache
        if not c.has_superclasses:
            return None
        return metrics_mod.coarse_confusion(c.labels, c.preds, c.class_to_superclass, len(c.superclass_names))

    @cached_property
    def findings(self) -> list:
        """The recommendation rules that fire on this run (engine.analysis.recommendations), ranked."""
        from engine.analysis.recommendations import find

        return find(self)

    @cached_property
    def unit_features(self) -> np.ndarray | None:
        """The pooled features, centred and of unit length (engine.analysis.similar_images); None without."""
        from engine.analysis.similar_images import unit_features

        return None if self.cache.features is None else unit_features(self.cache.features)

    @cached_property
    def near_duplicates(self) -> "Duplicates | None":
        """Pairs of test images the model sees as near-copies; None where the cache has no features or the
        test set is too large to compare every pair (engine.analysis.similar_images.MAX_IMAGES)."""
        from engine.analysis.similar_images import near_duplicates, searchable

        if self.cache.features is None or not searchable(self.cache.num_images):
            return None
        return near_duplicates(self.unit_features)

    def compute_all(self) -> "AnalysedRun":
        """Every analysis now (before forking report workers, which then share them)."""
        for name in ("metrics", "selections", "calibration", "attention", "attention_ranking", "attention_per_class",
                     "attention_per_pair", "map_agreement", "sanity", "model_randomisation", "faithfulness",
                     "faithfulness_per_class", "faithfulness_per_pair", "suspects", "suspect_precision",
                     "coarse_confusion", "findings", "near_duplicates"):
            getattr(self, name)
        return self


def open_run(path: str | os.PathLike) -> AnalysedRun:
    """The run at `path` (a cache file, a cache folder or an output folder), read and checked."""
    return AnalysedRun(load_cache(resolve_cache_path(path)))
