"""The registry of views: the app builds its tabs, number keys and key list by iterating VIEWS, in order.

A new view is a View subclass in its own module (tui.views.base says what the app asks of it) and one
entry here.
"""

from __future__ import annotations

from tui.views.base import Runs, View
from tui.views.class_view import ClassView
from tui.views.classes import ClassesView
from tui.views.compare import CompareView
from tui.views.confusion import ConfusionView
from tui.views.images import ImagesView
from tui.views.overview import OverviewView
from tui.views.pairs import PairsView
from tui.views.recommendations import RecommendationsView
from tui.views.suspects import SuspectsView

VIEWS: tuple[type[View], ...] = (
    OverviewView,
    ClassesView,
    ClassView,
    PairsView,
    RecommendationsView,
    SuspectsView,
    ConfusionView,
    ImagesView,
    CompareView,
)


def registered(runs: Runs) -> list[type[View]]:
    """The views of this session, in tab order: every view available with these runs (Compare only when
    there is an older run to compare with)."""
    return [view for view in VIEWS if view.available(runs)]


__all__ = ["VIEWS", "Runs", "View", "registered"]
