"""The database layer: the only code the web server and the worker share. Imports neither web nor torch."""
