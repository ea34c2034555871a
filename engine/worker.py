"""`python -m engine.worker RUN_DIR`: the worker's command line, kept at this name because engines
find and adopt live workers by it (engine.train.worker is the code). `python -m engine.worker
--standby --store ROOT` is the engine's standby worker (engine.train.standby)."""

import sys

if __name__ == "__main__":
    if "--standby" not in sys.argv[1:]:  # an idle standby is stopped by a plain SIGTERM
        from engine.train.startup import note_stop_signals

        note_stop_signals()  # the worker's main() acts on a stop signal that comes before it runs
    from engine.train.host import PROCESS

    PROCESS.start()  # before torch loads: malloc's thresholds, and a look at the cores while it does
    if "--standby" in sys.argv[1:]:
        from engine.train.standby import main
    else:
        from engine.train.worker import main
    sys.exit(main())
