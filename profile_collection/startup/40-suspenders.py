# Beam dumps: hold below 10 mA; resume above 90 mA, and only once both start gates pass again.
cora.supervisor(ring_current, floor=10, resume_at=90, sleep=float(_os.environ.get("CORA_RESUME_SLEEP", "1")))
