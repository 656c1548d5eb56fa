"""Training: the loop (loop.py) and what it writes (run_folder.py, checkpoint.py, metrics.py, plots.py)."""
