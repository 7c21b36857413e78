"""The comparison of two runs in words and files: compare_summary.txt, compare_per_class.csv,
compare_images.csv."""

from __future__ import annotations

from pathlib import Path

from engine.analysis.compare import Comparison
from engine.reports.tables import to_csv_text
from engine.store.atomic import write_text


def summary_lines(cmp: Comparison, old_name: str, new_name: str, top: int = 10) -> list[str]:
    """compare_summary.txt line by line (the CLI prints each line through engine.console)."""
    s = cmp.summary
    pc = cmp.per_class.frame.sort_values(["delta", "class_id"], kind="mergesort")
    lines = [
        f"Comparison: {old_name} -> {new_name}",
        f"Top-1 accuracy: {s['top1_old'] * 100:.2f}% -> {s['top1_new'] * 100:.2f}% ({(s['top1_new'] - s['top1_old']) * 100:+.2f} points)",
        f"Top-5 accuracy: {s['top5_old'] * 100:.2f}% -> {s['top5_new'] * 100:.2f}%",
        f"Images fixed: {s['fixed']}, broken: {s['broken']} (net {s['fixed'] - s['broken']:+d})",
        f"ECE (15 bins): {s['ece_old']:.4f} -> {s['ece_new']:.4f}; errors at >= 90% confidence: "
        f"{s['high_conf_errors_old']} -> {s['high_conf_errors_new']}",
        f"Grad-CAM on errors, background focus: {s['background_focus_errors_old']:.3f} -> {s['background_focus_errors_new']:.3f}; "
        f"diffuseness (all images): {s['diffuseness_old']:.3f} -> {s['diffuseness_new']:.3f}",
        "",
        "Classes that improved most:",
        *[f"  {r.class_name:<22} {r.accuracy_old * 100:5.1f}% -> {r.accuracy_new * 100:5.1f}% ({r.delta * 100:+.1f}; fixed {r.fixed}, broken {r.broken})"
          for r in pc[::-1].head(top).itertuples()],
        "Classes that got worse most:",
        *[f"  {r.class_name:<22} {r.accuracy_old * 100:5.1f}% -> {r.accuracy_new * 100:5.1f}% ({r.delta * 100:+.1f}; fixed {r.fixed}, broken {r.broken})"
          for r in pc.head(top).itertuples()],
    ]
    return lines


def summary_text(cmp: Comparison, old_name: str, new_name: str, top: int = 10) -> str:
    return "\n".join(summary_lines(cmp, old_name, new_name, top)) + "\n"


def write_comparison(cmp: Comparison, out_dir: Path, old_name: str, new_name: str) -> list[Path]:
    """compare_per_class.csv, compare_images.csv and compare_summary.txt in out_dir, each atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "compare_per_class.csv": to_csv_text(cmp.per_class.frame, float_format="%.6g"),
        "compare_images.csv": to_csv_text(cmp.images.frame, float_format="%.6g"),
        "compare_summary.txt": summary_text(cmp, old_name, new_name),
    }
    paths = []
    for name, text in files.items():
        path = out_dir / name
        write_text(path, text)
        paths.append(path)
    return paths
