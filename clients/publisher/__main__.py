import sys

from clients.publisher.cli import main

sys.exit(main())
