"""Category codes read at their own width.

A pandas categorical keeps its codes as int8, int16 or int32 by the number of categories. The
kernels take such a column as its bytes (``uint8``, C-contiguous) and its width in bytes, so one
compiled body serves every width and no widened copy of every event's code is made:
``views = width_views(b)`` once, then ``code_at(views, width, i)`` per event (inlined)."""
from __future__ import annotations

import numpy as np

from . import kernel


@kernel(inline="always")
def width_views(b):
    """The int8 / int16 / int32 / int64 views of the code bytes ``b`` (each over as many whole
    codes of that width as ``b`` holds)."""
    return (b.view(np.int8), b[:b.size - b.size % 2].view(np.int16),
            b[:b.size - b.size % 4].view(np.int32), b[:b.size - b.size % 8].view(np.int64))


@kernel(inline="always")
def code_at(views, width, i):
    """Code ``i`` (int64; -1 for missing) of codes ``width`` bytes wide (:func:`width_views`)."""
    if width == 1:
        return np.int64(views[0][i])
    if width == 2:
        return np.int64(views[1][i])
    if width == 4:
        return np.int64(views[2][i])
    return views[3][i]
