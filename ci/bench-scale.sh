#!/usr/bin/env bash
# The scaling table (issue 16): memory per session and per-event costs from 1,000 to 1,000,000
# sessions, and kick delays at scale.
# 1. Real broker (benches/scale_broker.rs): SCALE_HELD (default 0,1000,10000,19000) held connections
#    against mosquitto with the plugin and anonymous mosquitto in the same run: RSS per held
#    connection, broker CPU per CONNECT, per PUBLISH (an ACL check each with the plugin), idle CPU.
# 2. In-process (benches/scale.rs): the handlers with SCALE_N (default 100000,1000000) sessions and a
#    counting allocator: bytes per session, CPU per CONNECT / cached reconnect / ACL / DISCONNECT /
#    TICK, and 1,000,000 kicks spread over a minute (p99 delay, missed, early, sessions left).
# 3. Real broker kicks (benches/expiry_kicks.rs): KICK_N (default 19000) tokens expiring in the same
#    second (KICK_GAP_S=0).
# SCALE_PARTS (default "broker,inproc,kicks") picks the parts. Release build; about 15 minutes on
# 2 cores. The open-file hard limit bounds the held connections (ci/raise-nofile.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
. ci/raise-nofile.sh  # one socket per client here and in mosquitto
parts="${SCALE_PARTS:-broker,inproc,kicks}"
echo "ci/bench-scale.sh: ulimit -n $(ulimit -Sn) (hard $(ulimit -Hn)); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GB; $(mosquitto -h 2>/dev/null | head -1)"
case ",$parts," in *,broker,*)
  cargo bench --locked --bench scale_broker ;;
esac
case ",$parts," in *,inproc,*)
  cargo bench --locked --bench scale ;;
esac
case ",$parts," in *,kicks,*)
  KICK_N="${KICK_N:-19000}" KICK_GAP_S="${KICK_GAP_S:-0}" KICK_CALIBRATION_FACTOR="${KICK_CALIBRATION_FACTOR:-6}" \
    cargo bench --locked --bench expiry_kicks ;;
esac
