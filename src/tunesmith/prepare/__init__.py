"""`tunesmith data prepare`: the engine (`pipeline`, `stage`, `work`, the Ray engine), its report and the
step library (`prepare.steps`). Steps are small objects with stats; the engine runs them in order over
shards, in worker processes, and can resume."""
