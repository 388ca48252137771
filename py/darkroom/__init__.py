"""Darkroom: the Python core of the in-browser photo lab."""
