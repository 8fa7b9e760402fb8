"""`python -m chatbot.cli ...` is `chatbot ...`."""

import sys

from chatbot.cli import main

sys.exit(main())
