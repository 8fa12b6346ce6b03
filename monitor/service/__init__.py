"""The long-running service: the daemon and its jobs, reloads, the ops endpoint, systemd
notify and the run lock."""
