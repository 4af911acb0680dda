from rest_framework.pagination import PageNumberPagination as DRFPageNumberPagination


class PageNumberPagination(DRFPageNumberPagination):
    """`?page=N&page_size=M` with a hard ceiling so no request can ask for everything."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
