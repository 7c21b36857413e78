"""What an example looks like, for the PNG reports and the terminal app alike (torch- and Textual-free):
which images to show (examples.py), the panels of a figure (panels.py), their colours (colours.py) and
how numbers read everywhere (numbers.py)."""
