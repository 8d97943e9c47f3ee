import sys

from qbd_simulator.cli import main

sys.exit(main())
