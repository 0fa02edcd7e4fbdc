import sys

from wemd.cli import main

sys.exit(main())
