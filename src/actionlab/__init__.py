"""actionlab: human action recognition in video, end to end."""

__version__ = "0.1.0"
