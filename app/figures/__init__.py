"""Figures: one module per page, plain functions from analysis results to plotly figures.

Pages and the meeting report (:mod:`app.report`) draw with the same functions, so an exported
figure and the page show the same thing. Nothing here reads runs or the cache: the functions take
what a page has read. Every figure's title names the data it came from (an export travels
without the page's banner).
"""
