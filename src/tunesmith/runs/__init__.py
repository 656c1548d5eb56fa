"""A fine-tuning run: its schema (`runs.config.RunConfig`) and its folder on disk (`runs.folder`:
config.yaml, manifest, checkpoints, adapter or model, metrics), which train writes and infer, export,
evaluate and the UI read."""
