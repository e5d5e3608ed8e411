"""The ``lamina`` command line (``lamina demo``, ``fit``, ``evaluate``, ``predict``, ``summary``,
``convert``); the entry point is :func:`lamina.cli.main.main`.

>>> from lamina.cli.main import build_parser
>>> build_parser().parse_args(["fit", "data.csv", "--target", "y"]).epochs
50
"""
