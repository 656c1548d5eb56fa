"""Training: the loop (loop.py) and what it writes into the run folder (checkpoint.py, metrics.py, plots.py; the folder itself is runs/folder.py)."""
