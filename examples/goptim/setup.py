"""Builds the Go package in this directory into the Python module goptim."""

from setuptools import setup

from pybuf.gobuild import go_modules

setup(**go_modules({"goptim": "."}))
