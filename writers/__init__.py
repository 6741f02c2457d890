"""The report's writers, one module per format: HTML (Jinja2), PDF (WeasyPrint), XLSX (openpyxl),
DOCX (python-docx), and the atomic file writes they share. Each takes the report context (a plain
dict from ``transforms.report_context.build_context``) and returns bytes; nothing here reads the
warehouse.
"""
