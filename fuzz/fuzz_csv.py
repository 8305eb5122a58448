"""atheris fuzz target of the csv reader (see docs/fuzzing.md).

    python fuzz/fuzz_csv.py fuzz/corpus/csv -max_total_time=600

or ``make fuzz`` (all readers, ``FUZZ_SECONDS`` each).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import atheris_main  # noqa: E402

if __name__ == "__main__":
    atheris_main("csv")
