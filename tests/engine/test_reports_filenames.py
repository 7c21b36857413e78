"""Report file names (engine.reports.filenames): a class name becomes a plain fragment, and nothing is
written outside the output folder."""

from __future__ import annotations

import re

import pytest

from engine.reports import filenames as fn
from engine.reports.filenames import safe_filename

HOSTILE = ["../x", "a/b", "ünï cødé", "<script>", "..", "", "猫", "/etc/passwd", "C:\\evil", "x" * 300]


@pytest.mark.parametrize("name", HOSTILE, ids=["dotdot-x", "slash", "unicode", "html", "dotdot", "empty", "cjk",
                                               "absolute", "windows", "long"])
def test_safe_filename_is_a_plain_fragment(name):
    s = safe_filename(name)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", s), s
    assert len(s) <= 60 and ".." not in s and "/" not in s and "\\" not in s


def test_safe_filename_examples():
    assert safe_filename("odd/na me<b>") == "odd_na_me_b"
    assert safe_filename("ünï cødé") == "uni_c_de"
    assert safe_filename("aquarium_fish") == "aquarium_fish"
    assert safe_filename("猫") != safe_filename("犬")  # nothing ASCII left: distinct hashes


def test_report_names_are_recognised_and_nothing_else():
    assert fn.is_report_name(fn.class_figure_name(3, "odd/na me<b>"))
    assert fn.is_report_name(fn.pair_figure_name(2, "cat", "dog"))
    assert fn.is_report_name(fn.PER_CLASS_CSV)
    assert not fn.is_report_name("my_notes.txt") and not fn.is_report_name("class_12_x.png")


def test_inside_refuses_escapes(tmp_path):
    assert fn.inside(tmp_path, "x.png") == (tmp_path / "x.png").resolve()
    with pytest.raises(ValueError):
        fn.inside(tmp_path, "../x.png")
    with pytest.raises(ValueError):
        fn.inside(tmp_path, "a/b.png")
