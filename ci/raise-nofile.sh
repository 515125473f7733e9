# Sourced by the benchmark scripts that hold one socket per client (and so does mosquitto, which
# inherits the limit): raises the soft open-file limit as far as the hard limit allows.
hard="$(ulimit -Hn)"
if [ "$hard" = "unlimited" ]; then
  hard="$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)"
fi
if [ "$(ulimit -Sn)" != "unlimited" ] && [ "$(ulimit -Sn)" -lt "$hard" ]; then
  ulimit -Sn "$hard" || echo "$0: could not raise ulimit -n to $hard" >&2
fi
