"""The daemon: APScheduler loop, HTTP endpoints (health, metrics, status page), notifications."""
