"""Recommendations: the engine's Markdown, rendered; a failing engine is a sentence, not a crash."""

from __future__ import annotations

import asyncio

from tests.tui.helpers import SIZE, settle
from tui.app import GradCamApp
from tui.views.recommendations import RecommendationsView


def test_recommendations_view_renders_the_engines_markdown(small_run, tmp_path, use_recommendations):
    use_recommendations(lambda run: f"# Recommendations\n\n- look at **{run.class_names[1]}** first\n")

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await settle(app, pilot)
            view = app.query_one(RecommendationsView)
            assert "look at **class_1** first" in view.markdown_text
            assert view.query("#recommendations-md") and not view.query("#recommendations-wait")

    asyncio.run(go())


def test_the_real_recommendations_are_shown(small_run, tmp_path):
    from engine.reports.recommendations import recommendations_markdown

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await settle(app, pilot)
            assert app.query_one(RecommendationsView).markdown_text == recommendations_markdown(small_run)

    asyncio.run(go())


def test_recommendations_view_survives_a_failing_engine(small_run, tmp_path, use_recommendations):
    def boom(run):
        raise RuntimeError("no rules")

    use_recommendations(boom)

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await settle(app, pilot)
            assert "RuntimeError\\: no rules" in app.query_one(RecommendationsView).markdown_text  # as text

    asyncio.run(go())


def test_the_view_opens_on_the_text_with_the_cursor_in_the_evidence(small_run, tmp_path):
    """The recommendations are read first (the scroll at the top, the text above the links); the links hold
    the keys, no line chosen, and the first ↓ chooses the first line and brings it into view."""
    from tui.widgets.link_list import LinkList

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=(100, 24)) as pilot:
            await pilot.press("5")
            await settle(app, pilot)
            scroll = app.query_one("#recommendations-scroll")
            text, links = app.query_one("#recommendations-md"), app.query_one(LinkList)
            assert list(scroll.children).index(text) < list(scroll.children).index(links)
            assert app.focused is links and scroll.scroll_y == 0
            await pilot.press("enter")  # nothing chosen: nothing opens
            await settle(app, pilot)
            assert app.active_view == "recommendations"
            await pilot.press("down")
            await settle(app, pilot)
            assert links.cursor == 0 and scroll.scroll_y > 0
            await pilot.press("enter")
            await settle(app, pilot)
            assert app.active_view != "recommendations"  # the first line's evidence opened

    asyncio.run(go())
