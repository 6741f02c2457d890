"""`plan import`: a plan document's indicator table read into a draft plan definition.

Pure: ``read_document(name, bytes)`` gives the document's tables (grids with merged cells) and
body text; ``draft_plan(document, Options)`` gives plan.yaml's and areas.yaml's data, with what it
guessed listed under ``review_needed``. File I/O and the command live in flows/plans.py.
"""

from transforms.plan_import.draft import Options, draft_plan
from transforms.plan_import.grid import Cell, Document, PlanImportError
from transforms.plan_import.readers import read_document

__all__ = ["Cell", "Document", "Options", "PlanImportError", "draft_plan", "read_document"]
