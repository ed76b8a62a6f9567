#!/usr/bin/env bash
# `make test-spark`: a local Spark Connect server on 127.0.0.1, the `spark` tests against it,
# and the server stopped by its PID at the end, also when a test or the start-up fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${CX_SPARK_PORT:-15002}"
WORK="$PWD/.cache/spark"
RUN="$WORK/run"
PY=.venv/bin/python

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "test-spark: port $PORT on 127.0.0.1 is already in use; set CX_SPARK_PORT to a free port" >&2
  exit 1
fi
rm -rf "$RUN" "$WORK/warehouse"
mkdir -p "$RUN"
SPARK_HOME="$($PY -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
export SPARK_HOME SPARK_PID_DIR="$RUN" SPARK_LOG_DIR="$RUN" SPARK_IDENT_STRING=cx-test-spark
export SPARK_LOCAL_IP=127.0.0.1

# Every listener on loopback: gRPC, the driver and block manager; no web UI.
bash "$SPARK_HOME/sbin/start-connect-server.sh" --master 'local[2]' --driver-memory 2g \
  --conf spark.connect.grpc.binding.address=127.0.0.1 \
  --conf "spark.connect.grpc.binding.port=$PORT" \
  --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
  --conf spark.ui.enabled=false --conf spark.sql.session.timeZone=UTC \
  --conf spark.sql.shuffle.partitions=4 \
  --conf "spark.sql.warehouse.dir=$WORK/warehouse" >/dev/null
PID="$(cat "$RUN"/*.pid)"
stop() {
  kill "$PID" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$PID" 2>/dev/null || return 0; sleep 1; done
  kill -9 "$PID" 2>/dev/null || true
}
trap stop EXIT

echo "test-spark: waiting for Spark Connect (pid $PID) on 127.0.0.1:$PORT"
for i in $(seq 240); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "test-spark: the Spark Connect server exited; its log:" >&2
    tail -40 "$RUN"/*.out >&2
    exit 1
  fi
  if [ "$i" = 240 ]; then echo "test-spark: no Spark Connect server after 240 s" >&2; exit 1; fi
  sleep 1
done

CX_SPARK_REMOTE="sc://127.0.0.1:$PORT" CX_SPARK_REQUIRED=1 \
  $PY -m pytest -m spark -p no:xdist -W ignore::FutureWarning --basetemp="$WORK/pytest" tests/
