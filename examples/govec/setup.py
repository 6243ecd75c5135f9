"""Builds the Go package in this directory into the Python module govec."""

from setuptools import setup

from pybuf.gobuild import go_modules

setup(**go_modules({"govec": "."}))
