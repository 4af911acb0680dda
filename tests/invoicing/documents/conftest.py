"""PDF tests need WeasyPrint's system libraries (Pango); without them they skip, saying so."""

from __future__ import annotations

import io

import pytest


def _weasyprint_problem() -> str | None:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"WeasyPrint cannot load its system libraries (Pango): {exc}"
    return None


@pytest.fixture
def pdf_text():
    """Render-and-read: the text of a PDF's pages, read back with pypdf."""
    problem = _weasyprint_problem()
    if problem:
        pytest.skip(problem)
    from pypdf import PdfReader

    def read(data: bytes) -> str:
        assert data.startswith(b"%PDF-"), data[:20]
        reader = PdfReader(io.BytesIO(data))
        return "\n".join(page.extract_text() for page in reader.pages)

    return read
