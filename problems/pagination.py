"""Cursor pagination ordered by creation, stable under concurrent inserts."""

from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Newest first; `page_size` may be asked for up to 100."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 100
