"""Load generator for OpenAI-compatible inference servers (`python -m benchmarks.load`).

Modules: `client` sends one request and times it, `measure` turns results into
percentiles and rates, `runner` drives closed- and open-loop load, `report` prints,
writes JSON and plots, `cli` parses arguments.
"""
