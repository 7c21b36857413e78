"""Suspects: the label suspects (AnalysedRun.suspects, most likely wrong first) as a slice of the Images view,
where the review starts: each image with the Grad-CAMs of the given and of the suggested label, one key per
verdict, the suggested label offered.

Finding them takes a moment on 10,000 images, so the slice is built in a thread the first time the tab is
shown; the next launch resumes at the first suspect without a verdict.
"""

from __future__ import annotations

from tui.slices import SUSPECTS, SliceSpec
from tui.views.images import ImagesView


class SuspectsView(ImagesView):
    """The Images view, fixed on the label suspects."""

    KEY, TAB, TITLE = "6", "suspects", "Suspects"
    OPENS = ()
    START = SliceSpec(SUSPECTS)

    def _shown(self, s, image):
        if image is None and s.spec == self.START:  # resume the review at the first image without a verdict
            first = self.book.first_unreviewed(s.images)
            image = None if first is None else int(s.images[first])
        super()._shown(s, image)
