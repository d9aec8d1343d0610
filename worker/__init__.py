"""The training side: claims runs from the database queue and trains them. Imports no web code."""
