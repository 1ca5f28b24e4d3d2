"""The run modes: the whole system in one process (`single`), the native stack (`stack`)."""
