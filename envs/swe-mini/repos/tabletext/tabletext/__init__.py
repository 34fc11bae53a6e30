"""tabletext: plain-text tables for terminals, logs and emails."""

from tabletext.styles import STYLES, Style, get_style
from tabletext.table import Column, Table

__all__ = ["Column", "STYLES", "Style", "Table", "get_style"]
__version__ = "0.4.0"
