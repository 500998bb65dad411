"""End-to-end wiring used by the entry scripts: config -> data -> model -> loss -> train -> eval -> report.

This is the last step of the one-way flow; it may import everything before it.
"""
