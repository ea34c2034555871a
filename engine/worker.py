"""`python -m engine.worker RUN_DIR`: the worker's command line, kept at this name because engines
find and adopt live workers by it (engine.train.worker is the code)."""

import sys

from engine.train.worker import main

if __name__ == "__main__":
    sys.exit(main())
