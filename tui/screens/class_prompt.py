"""`m`: type a class name to draw its Grad-CAM of the image on screen. The classes whose name starts with the
words come first (then those that contain them, as the finder matches); Enter picks the highlighted one,
Esc closes. The screen returns the class id, or None."""

from __future__ import annotations

from tui.screens.finder import classes_matching
from tui.screens.picker import PickerScreen

MAX_SHOWN = 30


class ClassPrompt(PickerScreen):
    """The field over the run's class names; returns the class id."""

    SUBTITLE, PLACEHOLDER, ID_PREFIX = "type the start of a name · Enter: draw it · Esc: close", "a class name", \
        "class-prompt"

    DEFAULT_CSS = """
    ClassPrompt > Vertical {
        width: 60;
    }
    ClassPrompt OptionList {
        max-height: 16;
    }
    """

    def __init__(self, run, title: str = "Grad-CAM of class…") -> None:
        super().__init__()
        self.run, self.TITLE_TEXT = run, title

    def choices(self, text: str) -> list[tuple[str, int]]:
        names = self.run.class_names
        found = (classes_matching(self.run, text.strip()) if text.strip() else list(range(len(names))))[:MAX_SHOWN]
        return [(f"{c:>4}  {names[c]}", c) for c in found]
