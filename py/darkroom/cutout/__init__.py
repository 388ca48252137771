"""Cutting the subject out of a photo, for every tool that needs its alpha: the
classical cut-out (``classical``, needs scikit-image) and the feed and alpha of a
model with one image in and one mask out (``single_mask``)."""
