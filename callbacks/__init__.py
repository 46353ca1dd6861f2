"""Document-stream side of cora-bluesky: the recorder."""

from cora_bluesky.callbacks.recorder import CoraRecorder

__all__ = ["CoraRecorder"]
