"""The report's own room: exam templates, signing, rendering in each format, delivery."""
