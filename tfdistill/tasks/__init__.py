"""Tasks: what one example's label is, and everything that follows from it.

A task owns the label contract, the student's output head, the metrics, the
outputs of the exported serving signature and the rows of the report. Nothing
outside a task assumes one label per text: a new task is one new module here that
registers itself in `TASKS`, as text and token classification do.

Example:

>>> from tfdistill import tasks
>>> task = tasks.get("text_classification")
>>> task.name, task.headline_metric
('text_classification', 'accuracy')
>>> tasks.TASKS.names()
['text_classification', 'token_classification']
"""

from tfdistill.registry import Registry

# Task name -> the task's class; `get` returns an instance.
TASKS = Registry("task")


def register_task(name):
    """Registers a `Task` subclass under `name` (a decorator), for configs' `task:`."""
    return TASKS.register(name)


def get(name):
    """An instance of the task registered under `name`."""
    return TASKS.get(name)()


# Imported last: the modules register themselves in TASKS.
from tfdistill.tasks.base import Task  # noqa: E402
from tfdistill.tasks.text_classification import TextClassification  # noqa: E402
from tfdistill.tasks.token_classification import TokenClassification  # noqa: E402

__all__ = ["TASKS", "Task", "TextClassification", "TokenClassification", "get", "register_task"]
