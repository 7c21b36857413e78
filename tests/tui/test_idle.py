"""After a burst of keys (50, as fast as a terminal delivers a held key) every view ends where the keys
left it and the app goes idle: no worker still running, no timer ticking, no repaint in a quiet window
afterwards. A handler and a cursor that set each other off (the way the Pairs view once spun a CPU core
until it quit) would keep repainting here."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual import events

from tests.tui.helpers import better_cache, settle
from tui.app import GradCamApp

BURSTS = {  # per view, the keys a user holds down or hammers there
    "1": ["down", "down", "up", "tab", "down", "enter", "escape"],
    "2": ["down", "up", "s", "r", "down"],
    "3": ["j", "k", "t", "right_square_bracket", "j", "left_square_bracket", "v"],
    "4": ["down", "up", "j", "k", "down", "v", "pagedown"],
    "5": ["down", "up", "down"],
    "6": ["down", "up", "j", "k", "t", "v", "s"],
    "7": ["right", "down", "left", "down", "J", "L", "z", "down", "z"],
    "8": ["down", "up", "j", "k", "s", "r", "t", "v", "pagedown"],
    "9": ["down", "up", "s", "down", "r"],
}


def running_timers(app) -> list:
    """Repeating timers still ticking anywhere in the app (a paused or stopped one does not count)."""
    nodes = [app, app.screen, *app.screen.walk_children(with_self=False)]
    return [t for node in nodes for t in list(node._timers)
            if t._task is not None and not t._task.done() and t._active.is_set() and t._repeat != 1]


def pending(app) -> int:
    """Messages waiting anywhere in the app (its own queue, the screen's and every widget's)."""
    nodes = [app, app.screen, *app.screen.walk_children(with_self=False)]
    return sum(node._message_queue.qsize() for node in nodes)


def busy(app) -> str:
    """What is still going on: the unfinished workers and the nodes with queued messages."""
    nodes = [app, app.screen, *app.screen.walk_children(with_self=False)]
    workers = [f"{w.name} {w.state.name}" for w in app.workers if not w.is_finished]
    queued = [f"{node!r}: {node._message_queue.qsize()}" for node in nodes if node._message_queue.qsize()]
    return f"workers: {workers}; queued: {queued}"


async def drained(app, pilot, limit: float = 60.0) -> None:
    """Wait until no message is queued and no worker runs, twice in a row (a handler that re-posts forever
    never gets there: the test fails on the limit)."""
    deadline, calm = time.monotonic() + limit, 0
    while calm < 2:
        assert time.monotonic() < deadline, (f"still busy after {limit} s: the keys set off work that never ends "
                                             f"({busy(app)})")
        await settle(app, pilot)
        calm = calm + 1 if not pending(app) and all(w.is_finished for w in app.workers) else 0


@pytest.mark.parametrize("key", list(BURSTS))
def test_fifty_keys_in_a_row_leave_the_app_idle(small_cache, tmp_path, key, use_recommendations):
    from engine.analysis.analysed_run import AnalysedRun

    use_recommendations(lambda run: "# Recommendations\n\n- one\n")
    app = GradCamApp(AnalysedRun(better_cache(small_cache)), out_dir=tmp_path, old_run=AnalysedRun(small_cache))

    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press(key)
            await settle(app, pilot)
            painted = []
            screen = app.screen
            original = screen._compositor_refresh

            def counted() -> None:
                original()
                painted.append(1)

            screen._compositor_refresh = counted
            keys = BURSTS[key]
            for k in range(50):  # posted back to back, as a terminal delivers a held key: no wait between
                app.post_message(events.Key(keys[k % len(keys)], None))
            await drained(app, pilot)
            assert painted, "the keys changed nothing on screen"
            assert app.is_running
            assert not [w for w in app.workers if not w.is_finished]
            quiet = len(painted)
            await pilot.pause(0.3)  # a quiet window: nothing is left to do
            assert len(painted) == quiet, "the screen kept repainting after the keys stopped"
            assert not running_timers(app)

    asyncio.run(go())
