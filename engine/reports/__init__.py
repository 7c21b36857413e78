"""The report files of a run (PNG, CSV, HTML, TXT), written from an AnalysedRun alone.

    writer          write_reports(run, out_dir): every file, in parallel, with a progress bar
    filenames       the file names, and the safe file-name fragment of a class name
    class_figure    class_{id:03d}_{name}.png       pair_figure   confused_pair_{rank}_{true}_to_{pred}.png
    confusion       confusion_matrix_full.png       pairs_chart   top_confused_pairs.png
    diagnosis       reliability diagram, superclass confusion, suspect / attention / confident-error CSVs
    tables          per_class_accuracy.csv, most_confused_pairs.csv
    html            per_class_accuracy_interactive.html
    summary         analysis_summary.txt            recommendations   recommendations.txt (and the TUI's Markdown)
    compare         compare_summary.txt and the compare CSVs
    sheet, png, mpl the drawing: one composed image per figure, a fast PNG encoder, matplotlib without pyplot
"""
