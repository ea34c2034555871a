"""`python -m engine.worker RUN_DIR`: the worker's command line, kept at this name because engines
find and adopt live workers by it (engine.train.worker is the code). `python -m engine.worker
--standby --store ROOT` is the engine's standby worker (engine.train.standby)."""

import sys

if __name__ == "__main__":
    from engine.train.host import PROCESS

    PROCESS.start()  # before torch loads: malloc's thresholds, and a look at the cores while it does
    if "--standby" in sys.argv[1:]:
        from engine.train.standby import main
    else:
        from engine.train.worker import main
    sys.exit(main())
