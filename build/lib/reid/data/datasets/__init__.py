"""Dataset parsers, one module per official layout."""
