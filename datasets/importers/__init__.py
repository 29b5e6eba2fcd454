"""Label-file importers, one module per format. Each `parse` returns a `ParsedFile`."""

from .base import LabelFileError, ParsedFile, ParsedImage
from .generic import GenericOptions

FORMATS = ("chestxray14", "chexpert", "generic")

__all__ = ["FORMATS", "GenericOptions", "LabelFileError", "ParsedFile", "ParsedImage"]
