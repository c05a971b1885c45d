"""Python tasks for Celeriac's canvas interop tests (imported by interop_app.py)."""
from interop_app import app


@app.task(name="py.tsum")
def tsum(numbers, offset=0):
    """A chord body: the sum of the header's results (plus an offset)."""
    return sum(numbers) + offset
