"""Watching the served model: the prediction log in the lake and what is computed from it."""
