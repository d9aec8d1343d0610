"""The database layer: all the web server and the worker share. Imports neither web nor torch."""
