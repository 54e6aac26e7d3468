"""Command line: parses argv, prints; imports everything heavy lazily."""
