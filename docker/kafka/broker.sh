#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft mode) without a Docker engine.
#
#   docker/kafka/broker.sh fetch    resolve Kafka from Maven Central once (cached in .cache/kafka/libs)
#   docker/kafka/broker.sh start    format storage if needed, start on 127.0.0.1, wait until it answers
#   docker/kafka/broker.sh stop     controlled shutdown (SIGTERM), waits for the process to end
#   docker/kafka/broker.sh status   exit 0 if the broker answers a metadata request
#   docker/kafka/broker.sh reset    stop and delete the broker's data
#
# Environment: LIUHEN_KAFKA_PORT (default 19092), LIUHEN_KAFKA_CONTROLLER_PORT (default 19093),
# LIUHEN_KAFKA_HOME (state folder, default .cache/kafka), PYTHON (for the readiness check).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
home=${LIUHEN_KAFKA_HOME:-$repo/.cache/kafka}
libs=${LIUHEN_KAFKA_LIBS:-$repo/.cache/kafka/libs}
port=${LIUHEN_KAFKA_PORT:-19092}
ctrl=${LIUHEN_KAFKA_CONTROLLER_PORT:-19093}
python=${PYTHON:-$repo/.venv/bin/python}
run="$home/run-$port"
pidfile="$run/broker.pid"
log="$run/broker.log"

die() { echo "kafka: $*" >&2; exit 1; }

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to resolve Kafka from Maven Central"
  command -v java >/dev/null || die "Java 17+ is needed to run Kafka 4"
  echo "kafka: resolving Apache Kafka from Maven Central into $libs (once)"
  rm -rf "$libs"; mkdir -p "$libs"
  mvn -B -q -f "$here/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Maven resolved no kafka_2.13 jar into $libs"
  touch "$libs/.complete"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

answers() {
  "$python" - "$port" <<'PY' >/dev/null 2>&1
import sys
from kafka import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{sys.argv[1]}", request_timeout_ms=5000,
                         bootstrap_timeout_ms=5000)
try:
    assert admin.describe_cluster()["brokers"]
finally:
    admin.close()
PY
}

write_config() {
  mkdir -p "$run/data"
  cat > "$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$ctrl
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$run/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=16777216
message.max.bytes=1048588
auto.create.topics.enable=false
PROPS
}

start() {
  fetch
  if answers; then echo "kafka: already answering on 127.0.0.1:$port"; return 0; fi
  write_config
  if [ ! -f "$run/data/meta.properties" ]; then
    # A random cluster id, never starting with "-" (the storage tool would read it as an option;
    # Kafka's own Uuid.randomUuid skips those too).
    cluster_id=$("$python" -c 'import base64,os
while (i := base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()).startswith("-"): pass
print(i)')
    java -cp "$libs/*" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$run/server.properties" >"$run/format.log" 2>&1 || { cat "$run/format.log" >&2; die "storage format failed"; }
  fi
  nohup java -Xmx512m -Xms256m -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$run/server.properties" >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    running || { tail -n 40 "$log" >&2; die "broker exited during start (log: $log)"; }
    if answers; then echo "kafka: ready on 127.0.0.1:$port"; return 0; fi
    sleep 0.5
  done
  tail -n 40 "$log" >&2
  die "broker did not answer within 60 s (log: $log)"
}

stop() {
  running || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "kafka: stopped"; return 0; }
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "kafka: killed after 60 s without a controlled shutdown" >&2
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) answers && echo "kafka: answering on 127.0.0.1:$port" ;;
  reset) stop; rm -rf "$run" ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
