"""The test documents several test files index: one product page in three lengths."""

from __future__ import annotations

# The battery section only.
LANTERN_BATTERY = b"# Solar Lantern SL-300\n\n## Battery\n\nThe SL-300 lantern has a 5200 mAh battery.\n"
# The battery section with the light it gives.
LANTERN = (b"# Solar Lantern SL-300\n\n## Battery\n\nThe SL-300 lantern has a 5200 mAh battery and gives 14 hours "
           b"of light on the low setting.\n")
# That and a price section.
LANTERN_PRICED = LANTERN + b"\n## Price\n\nThe SL-300 costs $79.\n"
