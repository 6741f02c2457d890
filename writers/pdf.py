"""The report as PDF: WeasyPrint, fetching nothing outside ``report_templates/``."""

from __future__ import annotations

import contextlib
import gc
import logging
import mimetypes
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from writers.html import TEMPLATES_DIR


def _weasyprint():
    import weasyprint
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    return weasyprint, URLFetcher, URLFetcherResponse


def template_fetcher(root: Path = TEMPLATES_DIR):
    """A WeasyPrint URL fetcher that serves files inside ``root`` and refuses everything else.

    Refused: other folders (file:///etc/passwd, ../ tricks, symlinks out), http(s), data:, ftp.
    Every URL asked for is kept in ``.requested``; the ones served in ``.served``.
    """
    _, URLFetcher, URLFetcherResponse = _weasyprint()
    base = Path(root).resolve()

    class TemplateOnlyFetcher(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols={"file"}, allow_redirects=False)
            self.requested: list[str] = []
            self.served: list[str] = []

        def fetch(self, url, headers=None):
            self.requested.append(url)
            parts = urlsplit(url)
            if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
                raise ValueError(f"refused (only report_templates/ is served): {url}")
            path = Path(unquote(parts.path)).resolve()
            if not path.is_relative_to(base) or not path.is_file():
                raise ValueError(f"refused (only report_templates/ is served): {url}")
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self.served.append(url)
            return URLFetcherResponse(
                path.as_uri(), body=path.read_bytes(), headers={"Content-Type": kind}
            )

    return TemplateOnlyFetcher()


class _Capture(logging.Handler):
    """WeasyPrint's warnings raised by this thread (renders may run in parallel)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


LAYOUT_GC_THRESHOLD = (50_000, 20, 20)  # Python's default: (700, 10, 10)
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] = gc.get_threshold()


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Python's cyclic collector, held back while WeasyPrint lays a report out.

    A layout allocates millions of objects that live until the PDF is written; at the default
    thresholds the collector walks them, and every object imported or loaded before, again and
    again: a third of a long report's time. Objects alive before the layout (collected first)
    are frozen out of those walks, the young generation is collected every 50,000 allocations instead of 700, and
    the layout's own garbage is collected once at the end, so the peak stays where it was.
    Process-wide settings: the first of concurrent renders changes them, the last restores."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.collect()  # garbage frozen now would stay for the whole layout
            gc.freeze()
            gc.set_threshold(*LAYOUT_GC_THRESHOLD)
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.collect()  # the layout's cycles; the frozen objects are not walked
                gc.unfreeze()
                gc.set_threshold(*_gc_saved)


def render_pdf(html: str, fetcher=None) -> tuple[bytes, int, list[str]]:
    """PDF bytes, page count and WeasyPrint's warnings (e.g. '.notdef' for a missing glyph)."""
    weasyprint, _, _ = _weasyprint()
    fetcher = fetcher or template_fetcher()
    capture = _Capture()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(capture)
    try:
        with fewer_collections():
            doc = weasyprint.HTML(
                string=html, base_url=TEMPLATES_DIR.as_uri() + "/", url_fetcher=fetcher
            ).render()
            pdf, pages = doc.write_pdf(), len(doc.pages)
            del doc  # before the collection at the end of the block
    finally:
        logger.removeHandler(capture)
    return pdf, pages, capture.messages
