"""Builds the Go package in this directory into the Python module gotext."""

from setuptools import setup

from pybuf.gobuild import go_modules

setup(**go_modules({"gotext": "."}))
