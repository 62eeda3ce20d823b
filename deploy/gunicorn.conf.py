"""gunicorn settings shared by the three services (bind, workers and threads come from the command line)."""

import os

# Heartbeat files in memory, not on a possibly slow disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
accesslog = None  # request paths carry only ids, but the services' own JSON logs are the record
keepalive = 5
# Several services run side by side on one host: one shared control socket path would collide.
control_socket_disable = True


def child_exit(server, worker):
    # Prometheus' multiprocess mode keeps a file per process; a dead worker's gauges must be dropped.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
