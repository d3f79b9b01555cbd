#!/usr/bin/env bash
# Idempotent set-up of the Kafka broker + MirrorMaker 2 runtime used by the integration tests and `dcsync local`.
#  1. Java 17 and Maven (Debian 12 packages) if either is missing.
#  2. The jars from Maven Central (scripts/kafka/pom.xml) into $DCSYNC_CACHE_DIR/kafka/libs (default <repo>/.cache),
#     unless a marker written after the last successful copy says they are there for this exact pom.
# Quiet on success; on failure says what failed and exits non-zero.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${DCSYNC_CACHE_DIR:-$REPO_DIR/.cache}"
POM="$REPO_DIR/scripts/kafka/pom.xml"
LIBS_DIR="$CACHE_DIR/kafka/libs"
MARKER="$LIBS_DIR/.dcsync-complete"

die() { echo "setup-kafka: $*" >&2; exit 1; }

java_major() {
  # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' on stderr
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

need_packages=0
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" != "17" ]; then need_packages=1; fi
if ! command -v mvn >/dev/null 2>&1; then need_packages=1; fi
if [ "$need_packages" = 1 ]; then
  [ "$(id -u)" = 0 ] || die "java 17 or mvn is missing and we are not root: install openjdk-17-jre-headless and maven"
  log="$(mktemp)"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless maven; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2; rm -f "$log"
    die "apt-get install openjdk-17-jre-headless maven failed (output above)"
  fi
  rm -f "$log"
  command -v mvn >/dev/null 2>&1 || die "mvn still missing after apt-get install"
  # A machine with another default java: prefer the 17 we just installed.
  if [ "$(java_major)" != "17" ]; then
    j17="$(ls -d /usr/lib/jvm/java-17-openjdk-*/bin/java 2>/dev/null | head -n1 || true)"
    [ -n "$j17" ] || die "java 17 not found after apt-get install"
    update-alternatives --set java "$j17" >/dev/null 2>&1 || die "could not make $j17 the default java"
  fi
fi

[ -f "$POM" ] || die "missing $POM"
pom_sum="$(sha256sum "$POM" | cut -d' ' -f1)"
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$pom_sum" ]; then
  exit 0
fi

# The marker holds the pom's checksum. No marker: a copy never finished, copy again in place (files of a running
# JVM are left alone). A marker for another pom: jars of the old versions would linger on the classpath, start clean.
if [ -f "$MARKER" ]; then rm -rf "$LIBS_DIR"; fi
mkdir -p "$LIBS_DIR"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! mvn -B -q -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS_DIR" >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  die "mvn dependency:copy-dependencies failed (output above); is Maven Central reachable?"
fi
for jar in kafka_2.13- kafka-clients- connect-mirror- log4j-slf4j2-impl-; do
  ls "$LIBS_DIR"/"$jar"*.jar >/dev/null 2>&1 || die "mvn copy finished but no $jar*.jar in $LIBS_DIR"
done
echo "$pom_sum" >"$MARKER"
