"""argkit: a small, strict command-line argument parser."""

from argkit.errors import ParseError, SpecError
from argkit.parser import Namespace, Parser
from argkit.spec import Option, Positional

__all__ = ["Namespace", "Option", "ParseError", "Parser", "Positional", "SpecError"]
__version__ = "0.9.1"
