"""Screens pushed over the main one (the key list)."""
