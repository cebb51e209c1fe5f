"""Beside the flow: pictures and videos of the tracking, and the Py-Feat Fex bridge."""
