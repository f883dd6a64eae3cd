"""The main job: a config file in, a run directory with models, metrics and a report out."""
