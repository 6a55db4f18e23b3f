#!/usr/bin/env bash
# Run a real single-node Apache Kafka broker (KRaft: broker+controller in one
# JVM) for development and CI, without Docker: the jars come from Maven
# Central through scripts/kafka/pom.xml.
#
#   scripts/kafka.sh install   fetch the broker jars into $KAFKA_HOME_DIR/libs (idempotent)
#   scripts/kafka.sh start     install if needed, format storage if needed, start, wait until it answers
#   scripts/kafka.sh stop      SIGTERM, wait, SIGKILL if it will not go
#   scripts/kafka.sh status    exit 0 running and answering, 1 running but not answering, 3 not running
#   scripts/kafka.sh reset     stop and delete the data dir (next start formats a fresh cluster)
#
# Environment:
#   KAFKA_PORT               PLAINTEXT listener port on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT    KRaft controller listener port on 127.0.0.1 (default 19093)
#   KAFKA_HOME_DIR           state folder (default .cache/kafka; a relative path is taken from the repo root)
#   KAFKA_START_TIMEOUT      seconds to wait for the broker to answer (default 60)
#   KAFKA_HEAP_OPTS          JVM heap flags (default -Xms256m -Xmx512m)
#
# Layout of $KAFKA_HOME_DIR: libs/ (jars), data/ (log.dirs), logs/ (server.log),
# server.properties, log4j.properties, kafka.out (JVM stdout/stderr), kafka.pid.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HOME_DIR="${KAFKA_HOME_DIR:-.cache/kafka}"
case "$KAFKA_HOME_DIR" in
  /*) ;;
  *) KAFKA_HOME_DIR="$REPO_ROOT/$KAFKA_HOME_DIR" ;;
esac
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"

LIBS_DIR="$KAFKA_HOME_DIR/libs"
DATA_DIR="$KAFKA_HOME_DIR/data"
LOGS_DIR="$KAFKA_HOME_DIR/logs"
PROPS="$KAFKA_HOME_DIR/server.properties"
LOG4J_PROPS="$KAFKA_HOME_DIR/log4j.properties"
OUT_FILE="$KAFKA_HOME_DIR/kafka.out"
PID_FILE="$KAFKA_HOME_DIR/kafka.pid"
STAMP_FILE="$LIBS_DIR/.installed"

log() { echo "kafka.sh: $*"; }
die() { echo "kafka.sh: ERROR: $*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"
}

# The stamp records the pom's checksum, so editing the pom re-installs.
pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

libs_ok() {
  [[ -f "$STAMP_FILE" ]] && [[ "$(cat "$STAMP_FILE")" == "$(pom_sum)" ]] \
    && compgen -G "$LIBS_DIR/kafka_2.13-*.jar" >/dev/null
}

cmd_install() {
  if libs_ok; then
    log "broker jars already in $LIBS_DIR ($(ls "$LIBS_DIR"/*.jar | wc -l) jars), nothing to do"
    return 0
  fi
  need mvn "install Maven 3.8+: apt-get install -y maven"
  need java "install Java 17: apt-get install -y openjdk-17-jre-headless"
  local tmp="$KAFKA_HOME_DIR/libs.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_HOME_DIR"
  log "fetching Kafka broker jars with Maven ($POM) into $LIBS_DIR ..."
  local t0=$SECONDS
  # (sed strips the bare ANSI resets Maven 3.8 prints even with -q)
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1 \
    | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d'; then
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { rm -rf "$tmp"; die "no kafka_2.13 jar was copied"; }
  pom_sum >"$tmp/.installed"
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  log "installed $(ls "$LIBS_DIR"/*.jar | wc -l) jars ($(du -sh "$LIBS_DIR" | cut -f1)) in $((SECONDS - t0)) s: $(basename "$(ls "$LIBS_DIR"/kafka_2.13-*.jar)")"
}

# pid of our broker if it is running, else nothing (exit 1).
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # guard against a recycled pid: it must be the JVM we started with our config
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $PROPS" || return 1
  echo "$pid"
}

# Ask the broker for cluster metadata (Kafka protocol Metadata v1, stdlib only).
# Succeeds when a broker and an active controller are reported.
probe() {
  python3 - "$1" "$2" <<'PY'
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((host, port), timeout=2)
    s.settimeout(3)
    cid = b"kafka.sh"
    # header: api_key=3 (Metadata), api_version=1, correlation_id, client_id; body: topics=[] (none)
    body = struct.pack(">hhih", 3, 1, 42, len(cid)) + cid + struct.pack(">i", 0)
    s.sendall(struct.pack(">i", len(body)) + body)
    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf
    size, = struct.unpack(">i", read(4))
    resp = read(size)
    corr, nbrokers = struct.unpack(">ii", resp[:8])
    off = 8
    for _ in range(nbrokers):
        off += 4                                   # node_id
        hlen, = struct.unpack(">h", resp[off:off + 2]); off += 2 + hlen
        off += 4                                   # port
        rlen, = struct.unpack(">h", resp[off:off + 2]); off += 2 + max(rlen, 0)
    controller, = struct.unpack(">i", resp[off:off + 4])
    ok = corr == 42 and nbrokers >= 1 and controller >= 0
    sys.exit(0 if ok else 1)
except Exception:
    sys.exit(1)
PY
}

port_in_use() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.settimeout(1)
    sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
finally:
    s.close()
PY
}

write_config() {
  mkdir -p "$DATA_DIR" "$LOGS_DIR"
  cat >"$PROPS" <<EOF
# Written by scripts/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=${DATA_DIR}
num.partitions=4
default.replication.factor=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# small machine (2 cores)
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.retention.hours=168
log.segment.bytes=104857600
EOF
  cat >"$LOG4J_PROPS" <<EOF
# Written by scripts/kafka.sh. The broker logs to ${LOGS_DIR}/server.log.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${LOGS_DIR}/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.storage=WARN
log4j.logger.kafka.log=WARN
EOF
}

java_opts() {
  # shellcheck disable=SC2206
  local heap=($KAFKA_HEAP_OPTS)
  JAVA_OPTS=("${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true
    "-Dlog4j.configuration=file:${LOG4J_PROPS}" "-Dkafka.logs.dir=${LOGS_DIR}")
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local cluster_id
  cluster_id="$(python3 -c 'import base64, uuid
while True:
    u = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not u.startswith("-"):
        print(u); break')"
  log "formatting storage in $DATA_DIR (cluster id $cluster_id)"
  java_opts
  java "${JAVA_OPTS[@]}" -cp "$LIBS_DIR/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$PROPS" --ignore-formatted >>"$OUT_FILE" 2>&1 \
    || { tail -n 30 "$OUT_FILE" >&2; die "kafka-storage format failed"; }
}

show_logs() {
  echo "---- tail of $OUT_FILE ----" >&2
  tail -n 40 "$OUT_FILE" >&2 2>/dev/null || true
  echo "---- tail of $LOGS_DIR/server.log ----" >&2
  tail -n 60 "$LOGS_DIR/server.log" >&2 2>/dev/null || true
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    if probe 127.0.0.1 "$KAFKA_PORT"; then
      log "already running (pid $pid) on 127.0.0.1:$KAFKA_PORT, nothing to do"
      return 0
    fi
    log "already running (pid $pid) but not answering yet on 127.0.0.1:$KAFKA_PORT; waiting"
  else
    need java "install Java 17: apt-get install -y openjdk-17-jre-headless"
    need python3 "used for the health check"
    cmd_install
    if port_in_use "$KAFKA_PORT"; then
      die "port 127.0.0.1:$KAFKA_PORT is taken by another process (not our broker); set KAFKA_PORT"
    fi
    if port_in_use "$KAFKA_CONTROLLER_PORT"; then
      die "port 127.0.0.1:$KAFKA_CONTROLLER_PORT is taken by another process; set KAFKA_CONTROLLER_PORT"
    fi
    write_config
    format_storage
    java_opts
    log "starting broker on 127.0.0.1:$KAFKA_PORT (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT), log $LOGS_DIR/server.log"
    echo "==== start $(date -u +%FT%TZ) ====" >>"$OUT_FILE"
    nohup java "${JAVA_OPTS[@]}" -cp "$LIBS_DIR/*" kafka.Kafka "$PROPS" \
      </dev/null >>"$OUT_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
  fi

  local t0=$SECONDS
  while (( SECONDS - t0 < KAFKA_START_TIMEOUT )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      show_logs
      die "broker process $pid exited during startup"
    fi
    if probe 127.0.0.1 "$KAFKA_PORT"; then
      log "broker up (pid $pid) on 127.0.0.1:$KAFKA_PORT after $((SECONDS - t0)) s"
      return 0
    fi
    sleep 0.5
  done
  show_logs
  log "killing broker $pid: it did not answer within ${KAFKA_START_TIMEOUT} s"
  stop_pid "$pid"
  die "broker did not answer on 127.0.0.1:$KAFKA_PORT within ${KAFKA_START_TIMEOUT} s"
}

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do   # up to 30 s for a controlled shutdown
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker $pid ignored SIGTERM for 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  fi
  rm -f "$PID_FILE"
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping broker (pid $pid)"
    local t0=$SECONDS
    stop_pid "$pid"
    log "stopped in $((SECONDS - t0)) s"
  else
    rm -f "$PID_FILE"
    log "not running"
  fi
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if probe 127.0.0.1 "$KAFKA_PORT"; then
      echo "running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
      return 0
    fi
    echo "running (pid $pid) but not answering on 127.0.0.1:$KAFKA_PORT"
    return 1
  fi
  echo "not running"
  return 3
}

cmd_reset() {
  cmd_stop
  log "deleting $DATA_DIR"
  rm -rf "$DATA_DIR"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  *)
    echo "usage: $0 install|start|stop|status|reset" >&2
    exit 2
    ;;
esac
