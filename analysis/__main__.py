"""``python -m analysis``: the command-line interface."""
import sys

from .cli import main
from .processes import exit_on_sigterm

exit_on_sigterm()
sys.exit(main())
