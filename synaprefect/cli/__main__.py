"""``python -m synaprefect.cli``: the ``synaprefect`` command."""

import sys

from synaprefect.cli import main

sys.exit(main())
