"""`python -m tui` is the `gpt-tui` command."""

import sys

from tui.cli.main import main

sys.exit(main())
