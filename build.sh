#!/usr/bin/env bash
# Installs the systems under test at pinned versions, plus the OS packages the nodes need.
#
#   ./build.sh            install what is missing (a second run with everything present is
#                         offline and takes well under a second)
#   ./build.sh --update   re-resolve every pinned system (Maven, Go modules) and reinstall it
#   ./build.sh --kafka 4.0.2 [--kafka 3.8.1 ...]   also install these Kafka releases, beside the
#                         defaults and as they are installed (/opt/kafka-<version>); so does
#                         DUCTTAPE_KAFKA_VERSIONS="4.0.2 3.8.1". Any release Maven Central serves.
#   ./build.sh --no-os-packages   leave the OS packages alone (e.g. building the installs on a
#                         Vagrant host: DUCTTAPE_OPT_DIR=.vagrant/opt ./build.sh --no-os-packages)
#   ./build.sh --no-chromium   leave out headless Chromium (Debian's `chromium`, which the
#                         report's browser test needs) on a host that cannot have it: the test
#                         then reports itself skipped, with the reason; DUCTTAPE_CHROMIUM=0 too
#
# Each system is resolved with Maven (the machine's own settings apply, e.g. a mirror in
# ~/.m2/settings.xml) into /opt/<name>-<version>/libs, the same layout as a release tarball's
# libs/, so services run `java -cp '<home>/libs/*' <main class>` either way. An install is built
# in a temporary directory next to its destination and moved into place only when complete;
# /opt/<name>-<version>/.ducttape-installed records what it was built from.
#
# Environment:
#   DUCTTAPE_KAFKA_VERSIONS   more Kafka releases to install, space-separated, as --kafka does
#   DUCTTAPE_OPT_DIR    where to install (default /opt)
#   DUCTTAPE_MVN_ARGS   extra arguments for mvn, e.g. "-s /path/to/settings.xml"
#   DUCTTAPE_CHROMIUM   0: leave out Chromium, as --no-chromium does (default 1: install it)
#
# The pinned systems are at the bottom of this file, one line each.
set -euo pipefail

OPT_DIR=${DUCTTAPE_OPT_DIR:-/opt}
UPDATE=0
OS_PACKAGES=1
CHROMIUM=${DUCTTAPE_CHROMIUM:-1}
CHROMIUM_WHY="DUCTTAPE_CHROMIUM=${DUCTTAPE_CHROMIUM:-}"
MARKER=.ducttape-installed
# Left in $OPT_DIR by an opt-out of Chromium, so that the browser test knows the opt-out was
# deliberate (it then reports `skipped`; without this file a missing Chromium fails it).
NO_CHROMIUM_MARKER=.ducttape-no-chromium
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

log() { printf 'build.sh: %s\n' "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^# Each system/{/^# Each system/d;s/^# \{0,1\}//p;}' "${BASH_SOURCE[0]}"
}

# Extra Kafka releases (--kafka VERSION, --kafka=VERSION, DUCTTAPE_KAFKA_VERSIONS).
# shellcheck disable=SC2206
KAFKA_EXTRA=(${DUCTTAPE_KAFKA_VERSIONS:-})
KAFKA_ARG=0
for arg in "$@"; do
    if ((KAFKA_ARG)); then KAFKA_EXTRA+=("$arg"); KAFKA_ARG=0; continue; fi
    case "$arg" in
        --update) UPDATE=1 ;;
        --no-os-packages) OS_PACKAGES=0 ;;
        --chromium) CHROMIUM=1 ;; # the default; kept for old command lines
        --no-chromium) CHROMIUM=0 CHROMIUM_WHY=--no-chromium ;;
        -h|--help) usage; exit 0 ;;
        --kafka) KAFKA_ARG=1 ;;
        --kafka=*) KAFKA_EXTRA+=("${arg#--kafka=}") ;;
        *) usage >&2; die "unknown argument: $arg" ;;
    esac
done
[[ "$CHROMIUM" == [01] ]] || die "DUCTTAPE_CHROMIUM=$CHROMIUM: want 1 (install Chromium, the default) or 0 (leave it out)"

# Temporary directories to remove on exit (a failed build never leaves a half-installed dir),
# and JVMs of a class-data sharing training run to kill (an interrupted build leaves none).
CLEANUP=()
CDS_PIDS=()
cleanup() {
    local d p
    for p in "${CDS_PIDS[@]+"${CDS_PIDS[@]}"}"; do kill -9 "$p" 2>/dev/null || true; done
    for d in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do
        [[ -n "$d" && -e "$d" ]] && rm -rf -- "$d"
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

((KAFKA_ARG == 0)) || { usage >&2; die "--kafka needs a version, e.g. --kafka 4.0.2"; }
for v in "${KAFKA_EXTRA[@]+"${KAFKA_EXTRA[@]}"}"; do
    [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
        die "--kafka $v: not a Kafka release version (want X.Y.Z, e.g. 4.0.2; the releases are those Maven Central serves as org.apache.kafka:kafka_2.13)"
done

have() {
    command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" || -x "/sbin/$1" ]]
}

# Whether pkg-config knows the library (false without pkg-config itself).
pkg_config_has() {
    have pkg-config && pkg-config --exists "$1"
}

# ---------------------------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
    ((EUID == 0)) || die "packages missing: $* -- run build.sh as root, or install them yourself"
    have apt-get || die "packages missing: $* -- no apt-get here; install them with your package manager"
    if ((APT_UPDATED == 0)); then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
            die "apt-get update failed: check access to the Debian package mirror"
        APT_UPDATED=1
    fi
    log "installing Debian packages: $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
        die "apt-get install $* failed"
}

java_major() {
    # Prints the major version of `java` on PATH, or 0 when there is none.
    local v
    have java || { echo 0; return; }
    v=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
    v=${v#1.}
    echo "${v%%.*}"
}

install_os_packages() {
    local missing=()
    have sshd       || missing+=(openssh-server)
    have ssh        || missing+=(openssh-client)
    have ssh-keygen || missing+=(openssh-client)
    have ip         || missing+=(iproute2)
    have nsenter    || missing+=(util-linux)
    have unshare    || missing+=(util-linux)
    have flock      || missing+=(util-linux)
    have iptables   || missing+=(iptables)
    have ps         || missing+=(procps)
    have pkill      || missing+=(procps)
    have nc         || missing+=(netcat-openbsd)
    # ducktape suites call sudo on their nodes (tests run as root; root may sudo by default).
    have sudo       || missing+=(sudo)
    # The Rust Kafka client (rdkafka) builds its bundled librdkafka with configure + make, and
    # `make libs` compiles its C++ wrapper too: the tests' build needs these, not the nodes.
    have make       || missing+=(make)
    have cc         || missing+=(gcc)
    have c++        || missing+=(g++)
    # ... and links it with the system's OpenSSL (TLS, SASL SCRAM), found with pkg-config.
    have pkg-config || missing+=(pkg-config)
    pkg_config_has openssl || missing+=(libssl-dev)
    # Kafka 4.x brokers need Java 17. Only look at the version when the fast check fails.
    if ! have java || [[ "$(readlink -f "$(command -v java)")" != *-1[7-9]-* && "$(java_major)" -lt 17 ]]; then
        missing+=(openjdk-17-jre-headless)
    fi
    # javac: connect-file is compiled for Kafka 4.4 (see connect_file_for_kafka4).
    have javac || missing+=(openjdk-17-jdk-headless)
    # The docs' check in CI (.ci/check-docs) and the delay fault's proxy on the nodes.
    have python3    || missing+=(python3)
    # The clock-skew fault: libfaketime preloaded into a service's JVM on its node
    # (ducttape-services/src/faults/clock.rs); the `faketime` package depends on `libfaketime`.
    if ! have faketime || ! compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null; then
        missing+=(faketime libfaketime)
    fi
    # The report's browser test opens generated pages in it (ducttape-core/tests/report_browser.rs).
    if [[ "$CHROMIUM" == 1 ]] && ! have chromium; then
        missing+=(chromium)
    fi
    if ((${#missing[@]})); then
        # shellcheck disable=SC2207
        missing=($(printf '%s\n' "${missing[@]}" | sort -u))
        apt_install "${missing[@]}"
    fi
}

# ---------------------------------------------------------------------------------------------
# Maven projects
# ---------------------------------------------------------------------------------------------

# Generates a throwaway pom that depends on the given artifacts. An artifact is
# group:artifact (version = the system's VERSION) or group:artifact:version.
write_pom() {
    local pom=$1 name=$2 version=$3
    shift 3
    local a g art v
    {
        printf '<?xml version="1.0" encoding="UTF-8"?>\n'
        printf '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        printf '  <modelVersion>4.0.0</modelVersion>\n'
        printf '  <groupId>ducttape.build</groupId>\n  <artifactId>%s</artifactId>\n' "$name"
        printf '  <version>%s</version>\n  <packaging>pom</packaging>\n  <dependencies>\n' "$version"
        for a in "$@"; do
            IFS=: read -r g art v <<<"$a"
            [[ -n "$g" && -n "$art" ]] || die "bad artifact '$a' for $name (want group:artifact[:version])"
            printf '    <dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n' \
                "$g" "$art" "${v:-$version}"
        done
        printf '  </dependencies>\n</project>\n'
    } >"$pom"
}

# The marker records what an install was built from: the artifact list and the recipe for its
# config files. Any difference means the install is out of date.
marker_content() {
    local name=$1 version=$2
    shift 2
    printf 'name=%s\nversion=%s\n' "$name" "$version"
    printf 'artifact=%s\n' "$@"
    if declare -F "configure_$name" >/dev/null; then
        printf 'config=%s\n' "$(declare -f "configure_$name" | sha256sum | cut -d' ' -f1)"
    fi
}

# build_maven_project NAME VERSION ARTIFACTS...
#   Resolves ARTIFACTS (with their runtime dependencies) into $OPT_DIR/NAME-VERSION/libs and
#   runs configure_NAME DIR VERSION, if defined, to write DIR/config.
build_maven_project() {
    local name=$1 version=$2
    shift 2
    (($#)) || die "build_maven_project $name $version: no artifacts"
    local dest="$OPT_DIR/$name-$version"
    local want
    want=$(marker_content "$name" "$version" "$@")

    if ((UPDATE == 0)) && [[ -f "$dest/$MARKER" && -d "$dest/libs" ]] &&
        [[ "$(<"$dest/$MARKER")" == "$want" ]]; then
        log "$name $version: already installed in $dest"
        return 0
    fi

    have mvn || apt_install maven
    have java || die "java is needed to run Maven"

    log "$name $version: resolving $* with Maven"
    local tmp
    tmp=$(mktemp -d "$OPT_DIR/.$name-$version.tmp.XXXXXX")
    CLEANUP+=("$tmp")
    mkdir -p "$tmp/build" "$tmp/install/libs"
    write_pom "$tmp/build/pom.xml" "$name" "$version" "$@"

    local -a extra=()
    # shellcheck disable=SC2206
    [[ -n "${DUCTTAPE_MVN_ARGS:-}" ]] && extra=($DUCTTAPE_MVN_ARGS)
    ((UPDATE)) && extra+=(-U)
    if ! (cd "$tmp/build" && mvn -B -q -Dstyle.color=never "${extra[@]+"${extra[@]}"}" \
        "$DEPENDENCY_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp/install/libs") >"$tmp/build/mvn.log" 2>&1; then
        {
            echo "---- mvn output (errors) ----"
            sed -e 's/\x1b\[[0-9;]*m//g' -e 's/ -> \[Help 1\]$//' "$tmp/build/mvn.log" |
                grep -E '^\[(ERROR|FATAL)\] *[^ ]' |
                grep -vE '^\[ERROR\] *(->|\[Help)|For more information|Re-run Maven|full stack trace' |
                head -n 20 || tail -n 20 "$tmp/build/mvn.log"
            echo "-----------------------------"
        } >&2
        die "$name $version: could not resolve $(printf '%s ' "$@")from Maven (see the lines above for the artifact that failed). Check that this machine reaches the Maven repository (or the mirror configured in ~/.m2/settings.xml), and that each artifact exists at the pinned version.${RESOLVE_HINT:+ $RESOLVE_HINT.} Nothing was installed in $dest."
    fi
    compgen -G "$tmp/install/libs/*.jar" >/dev/null || die "$name $version: Maven resolved no jars"

    if declare -F "configure_$name" >/dev/null; then
        mkdir -p "$tmp/install/config"
        "configure_$name" "$tmp/install" "$version"
    fi
    install_in_place "$tmp/install" "$dest" "$want"
    log "$name $version: installed $(find "$dest/libs" -name '*.jar' | wc -l) jars in $dest"
}

# install_in_place BUILT DEST MARKER_CONTENT
#   Writes the marker into the complete install BUILT and moves it to DEST: the old install
#   (if any) is replaced only by a complete new one.
install_in_place() {
    local built=$1 dest=$2 want=$3
    printf '%s\n' "$want" >"$built/$MARKER"
    chmod -R a+rX "$built"
    if [[ -e "$dest" || -L "$dest" ]]; then
        local old
        old="$(dirname "$dest")/.$(basename "$dest").old.$$"
        mv -T -- "$dest" "$old"
        CLEANUP+=("$old")
    fi
    mv -T -- "$built" "$dest"
}

# link_default NAME VERSION: points $OPT_DIR/NAME at NAME-VERSION (atomically).
link_default() {
    local name=$1 version=$2 link="$OPT_DIR/$1"
    [[ "$(readlink "$link" 2>/dev/null)" == "$name-$version" ]] && return 0
    if [[ -e "$link" && ! -L "$link" ]]; then
        die "$link exists and is not a symlink; move it away so build.sh can point it at $name-$version"
    fi
    ln -sfn "$name-$version" "$link.tmp.$$"
    mv -T "$link.tmp.$$" "$link"
    log "$link -> $name-$version"
}

# ---------------------------------------------------------------------------------------------
# Go modules
# ---------------------------------------------------------------------------------------------

# Puts a Go toolchain on PATH: the one already there, the official tarball's /usr/local/go, or
# Debian's golang-go.
ensure_go() {
    have go && return 0
    if [[ -x /usr/local/go/bin/go ]]; then
        PATH="/usr/local/go/bin:$PATH"
        return 0
    fi
    ((OS_PACKAGES)) || die "$1: Go is needed to build it and none was found (not on PATH, not in /usr/local/go); install Debian's golang-go or Go from https://go.dev/dl/, or run build.sh without --no-os-packages"
    apt_install golang-go
    have go || die "$1: golang-go was installed but no 'go' is on PATH"
}

# build_go_module NAME VERSION MODULE
#   Fetches MODULE at vVERSION exactly (`go mod download`: `go install module@version` needs
#   the module proxy to list versions, which some proxies refuse) and builds its main package
#   into $OPT_DIR/NAME-VERSION/bin/NAME. The module's own default config is kept beside it as
#   a reference for the config format.
build_go_module() {
    local name=$1 version=$2 module=$3
    local dest="$OPT_DIR/$name-$version"
    local want
    want=$(printf 'name=%s\nversion=%s\nmodule=%s@v%s\n' "$name" "$version" "$module" "$version")

    if ((UPDATE == 0)) && [[ -f "$dest/$MARKER" && -x "$dest/bin/$name" ]] &&
        [[ "$(<"$dest/$MARKER")" == "$want" ]]; then
        log "$name $version: already installed in $dest"
        return 0
    fi

    ensure_go "$name $version"
    local tmp
    tmp=$(mktemp -d "$OPT_DIR/.$name-$version.tmp.XXXXXX")
    CLEANUP+=("$tmp")
    mkdir -p "$tmp/install/bin"

    log "$name $version: fetching $module@v$version with go mod download"
    if ! (cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-mod=mod \
        go mod download -json "$module@v$version") >"$tmp/download.json" 2>"$tmp/download.log"; then
        cat "$tmp/download.log" "$tmp/download.json" >&2
        die "$name $version: could not fetch $module@v$version (see go's error above). Check that this machine reaches the Go module proxy ($(go env GOPROXY)) and that the version exists. Nothing was installed in $dest."
    fi
    local src
    src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "$tmp/download.json")
    [[ -n "$src" && -d "$src" ]] || die "$name $version: go mod download reported no source directory: $(cat "$tmp/download.json")"

    # The module cache is read-only: build a writable copy.
    cp -r -- "$src" "$tmp/src"
    chmod -R u+w "$tmp/src"
    log "$name $version: building with $(go version) (a few minutes)"
    if ! (cd "$tmp/src" && GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=mod" \
        go build -o "$tmp/install/bin/$name" .) >"$tmp/build.log" 2>&1; then
        echo "---- go build output (last lines) ----" >&2
        tail -n 30 "$tmp/build.log" >&2
        echo "--------------------------------------" >&2
        die "$name $version: go build failed (see above). Nothing was installed in $dest."
    fi
    [[ -f "$tmp/src/default.yaml" ]] && cp -- "$tmp/src/default.yaml" "$tmp/install/default.yaml"
    install_in_place "$tmp/install" "$dest" "$want"
    log "$name $version: installed $dest/bin/$name"
}

# ---------------------------------------------------------------------------------------------
# Config files shipped with each install (the framework redirects stdout to a log file, so the
# server logs go to stdout in Kafka's own layout: [timestamp] LEVEL message (logger)).
# Servers: -Dlog4j.configuration=file:<home>/config/log4j.properties      (Kafka 3.x, ZooKeeper)
#          -Dlog4j2.configurationFile=<home>/config/log4j2.yaml           (Kafka 4.x)
# Tools:   the same with tools-log4j.properties / tools-log4j2.yaml (WARN and up, to stderr, so
#          the tools' stdout carries only their results).
# ---------------------------------------------------------------------------------------------

# connect_file_for_kafka4 DIR VERSION
#   Maven Central serves connect-file (the FileStream connectors) only up to 4.3.1 here, and
#   4.3.1's classes call org.apache.kafka.common.utils.AppInfoParser, which Kafka 4.4 moved to
#   ...common.utils.internals: on a 4.4 worker the plugin fails to load. This compiles
#   connect-file 4.3.1's own published sources against the install's jars with that one import
#   moved, and replaces the binary jar with the result. A no-op without connect-file-4.3.1.jar.
connect_file_for_kafka4() {
    local dir=$1 version=$2 cf=4.3.1
    [[ -f "$dir/libs/connect-file-$cf.jar" ]] || return 0
    # A release that still has AppInfoParser where connect-file 4.3.1 looks (4.3.x) loads it as is.
    jar tf "$dir/libs/kafka-clients-$version.jar" 2>/dev/null |
        grep -qx 'org/apache/kafka/common/utils/AppInfoParser.class' && return 0
    have javac || die "kafka $version: javac is needed to rebuild connect-file $cf for it (install openjdk-17-jdk-headless)"
    local work
    work=$(mktemp -d "$OPT_DIR/.connect-file.tmp.XXXXXX")
    CLEANUP+=("$work")
    local -a extra=()
    # shellcheck disable=SC2206
    [[ -n "${DUCTTAPE_MVN_ARGS:-}" ]] && extra=($DUCTTAPE_MVN_ARGS)
    if ! mvn -B -q -Dstyle.color=never "${extra[@]+"${extra[@]}"}" "$DEPENDENCY_PLUGIN:copy" \
        -Dartifact="org.apache.kafka:connect-file:$cf:jar:sources" -DoutputDirectory="$work" \
        >"$work/mvn.log" 2>&1; then
        tail -n 20 "$work/mvn.log" >&2
        die "kafka $version: could not fetch connect-file $cf's sources from Maven (see above)"
    fi
    mkdir -p "$work/src" "$work/classes"
    (cd "$work/src" && jar xf "$work/connect-file-$cf-sources.jar")
    find "$work/src" -name '*.java' -exec sed -i \
        's/org\.apache\.kafka\.common\.utils\.AppInfoParser/org.apache.kafka.common.utils.internals.AppInfoParser/' {} +
    # shellcheck disable=SC2046
    javac -nowarn -d "$work/classes" -cp "$dir/libs/*" $(find "$work/src" -name '*.java') \
        >"$work/javac.log" 2>&1 || { cat "$work/javac.log" >&2; die "kafka $version: connect-file $cf does not compile against it"; }
    cp -r "$work/src/META-INF" "$work/classes/"
    cp "$work/src/LICENSE" "$work/src/NOTICE" "$work/classes/"
    rm -f "$dir/libs/connect-file-$cf.jar"
    jar cf "$dir/libs/connect-file-$cf-built-for-$version.jar" -C "$work/classes" .
}

configure_kafka() {
    local dir=$1 version=$2
    [[ "$version" == [0-3].* ]] || connect_file_for_kafka4 "$dir" "$version"
    if [[ "$version" == [0-3].* ]]; then
        cat >"$dir/config/log4j.properties" <<'EOF'
# Written by ducttape's build.sh: Kafka's config/log4j.properties, with every logger sent to
# stdout (the framework redirects stdout to the node's log file).
log4j.rootLogger=INFO, stdout

log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.org.apache.zookeeper=INFO

# Per-request logging is far too chatty for a shared log.
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN

log4j.logger.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=INFO
log4j.logger.state.change.logger=INFO
log4j.logger.kafka.authorizer.logger=WARN
EOF
        cat >"$dir/config/tools-log4j.properties" <<'EOF'
# Written by ducttape's build.sh: Kafka's config/tools-log4j.properties (tools print their
# results on stdout; their own logging goes to stderr).
log4j.rootLogger=WARN, stderr

log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
EOF
    else
        cat >"$dir/config/log4j2.yaml" <<'EOF'
# Written by ducttape's build.sh: Kafka's config/log4j2.yaml, with every logger sent to stdout
# (the framework redirects stdout to the node's log file).
Configuration:
  Properties:
    Property:
      - name: "logPattern"
        value: "[%d] %p %m (%c)%n"
  Appenders:
    Console:
      name: STDOUT
      target: SYSTEM_OUT
      PatternLayout:
        pattern: "${logPattern}"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka
        level: INFO
      - name: org.apache.kafka
        level: INFO
      # Per-request logging is far too chatty for a shared log.
      - name: kafka.request.logger
        level: WARN
      - name: kafka.network.RequestChannel$
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
      - name: state.change.logger
        level: INFO
      - name: kafka.authorizer.logger
        level: WARN
EOF
        cat >"$dir/config/tools-log4j2.yaml" <<'EOF'
# Written by ducttape's build.sh: Kafka's config/tools-log4j2.yaml (tools print their results on
# stdout; their own logging goes to stderr).
Configuration:
  Properties:
    Property:
      - name: "logPattern"
        value: "[%d] %p %m (%c)%n"
  Appenders:
    Console:
      name: STDERR
      target: SYSTEM_ERR
      PatternLayout:
        pattern: "${logPattern}"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDERR
EOF
    fi
}

# ---------------------------------------------------------------------------------------------
# Class-data sharing archives
# ---------------------------------------------------------------------------------------------

# A Kafka install's JVMs (ZooKeeper, brokers, the perf tools) spend most of their start-up CPU
# loading, parsing and verifying the same few thousand classes. An AppCDS archive does that once,
# here: build.sh runs the install's JVMs once (a KRaft broker, and for 3.x ZooKeeper and a
# ZooKeeper-mode broker, with the perf producer and consumer against each), records the classes
# they load (-XX:DumpLoadedClassList) and dumps them into <home>/ducttape.jsa, which every JVM the
# framework starts from the install maps (JavaCommand adds -XX:SharedArchiveFile when the file
# exists). It changes no Kafka code and no JIT or GC setting; it is tied to the JVM build and the
# jars, and remade when either changes. A failed training run only warns: JVMs then start without
# it, as before. DUCTTAPE_JAVA_CDS=off (at test time) leaves it unused.
CDS_ARCHIVE=ducttape.jsa
CDS_PORT_BASE=39180

cds_stamp() { # DIR: what the archive depends on (the JVM build, the install's marker)
    { java -Xshare:off -version 2>&1; cat "$1/$MARKER"; } | sha256sum | cut -d' ' -f1
}

# cds_wait WHAT PID TIMEOUT TEST...: waits until TEST succeeds; fails if PID exits or on timeout.
cds_wait() {
    local what=$1 pid=$2 timeout=$3
    shift 3
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        kill -0 "$pid" 2>/dev/null || { echo "cds: $what exited before it was ready"; return 1; }
        ((SECONDS < deadline)) || { echo "cds: $what not ready after ${timeout}s"; return 1; }
        sleep 0.2
    done
}

cds_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# cds_stop PID: SIGTERM, then SIGKILL after 60 s (a class list is complete either way).
cds_stop() {
    local pid=$1 deadline=$((SECONDS + 60))
    kill "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# cds_java WORK NAME HEAP LOG4J CLASSPATH MAIN ARGS...: execs java recording its class list in
# WORK/NAME.lst (run it in a subshell or in the background: `$!` is then the JVM itself).
cds_java() {
    local work=$1 name=$2 heap=$3 log4j=$4 cp=$5
    shift 5
    exec java "-Xmx$heap" "$log4j" "-XX:DumpLoadedClassList=$work/$name.lst" -cp "$cp" "$@" \
        >"$work/$name.out" 2>&1
}

# cds_train_kafka DIR VERSION WORK: runs the install's JVMs once, leaving WORK/*.lst. Every JVM
# it starts is stopped before it returns, whatever happens.
cds_train_kafka() {
    local dir=$1 version=$2 work=$3
    local server tools
    if [[ "$version" == [0-3].* ]]; then
        server="-Dlog4j.configuration=file:$dir/config/log4j.properties"
        tools="-Dlog4j.configuration=file:$dir/config/tools-log4j.properties"
    else
        server="-Dlog4j2.configurationFile=$dir/config/log4j2.yaml"
        tools="-Dlog4j2.configurationFile=$dir/config/tools-log4j2.yaml"
    fi
    local zk=$CDS_PORT_BASE broker=$((CDS_PORT_BASE + 12)) controller=$((CDS_PORT_BASE + 13))
    local port
    for port in "$zk" "$broker" "$controller"; do
        ! cds_port_open "$port" || { echo "cds: port $port is in use"; return 1; }
    done
    local -a java=(cds_java "$work")
    local cp="$dir/libs/*" single="offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0"
    # CDS_PIDS (global: cleanup kills them if the build is interrupted), stopped last-started
    # first: a broker before the ZooKeeper it would otherwise wait for.
    CDS_PIDS=()
    stop_all() {
        local i
        for ((i = ${#CDS_PIDS[@]} - 1; i >= 0; i--)); do cds_stop "${CDS_PIDS[i]}"; done
        CDS_PIDS=()
    }
    failed() { # NAME: the tail of NAME's output, then every JVM stopped
        echo "cds: $1 failed; the end of its output:"
        tail -n 8 "$work/$1.out"
        stop_all
        return 1
    }
    perf() { # BOOTSTRAP SUFFIX: the perf producer, then the consumer
        ("${java[@]}" "producer-$2" 256m "$tools" "$cp" org.apache.kafka.tools.ProducerPerformance \
            --topic "cds-$2" --num-records 20000 --record-size 100 --throughput -1 \
            --producer-props "bootstrap.servers=$1" acks=all) || failed "producer-$2" || return 1
        ("${java[@]}" "consumer-$2" 256m "$tools" "$cp" org.apache.kafka.tools.ConsumerPerformance \
            --bootstrap-server "$1" --topic "cds-$2" --messages 20000 --timeout 60000) ||
            failed "consumer-$2"
    }

    cat >"$work/kraft.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$broker,CONTROLLER://127.0.0.1:$controller
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$work/kraft-data
$single
EOF
    ("${java[@]}" format 256m "$tools" "$cp" kafka.tools.StorageTool format \
        -t ducttapeCdsTrainingRun -c "$work/kraft.properties") || failed format || return 1
    "${java[@]}" kraft 512m "$server" "$cp" kafka.Kafka "$work/kraft.properties" &
    CDS_PIDS+=($!)
    cds_wait "the KRaft broker" "${CDS_PIDS[0]}" 120 grep -q "Kafka Server started" "$work/kraft.out" ||
        failed kraft || return 1
    perf "127.0.0.1:$broker" kraft || return 1
    stop_all

    [[ "$version" == [0-3].* ]] || return 0
    cat >"$work/zoo.cfg" <<EOF
dataDir=$work/zk-data
clientPort=$zk
admin.enableServer=false
EOF
    cat >"$work/zk-broker.properties" <<EOF
broker.id=1
zookeeper.connect=127.0.0.1:$zk
listeners=PLAINTEXT://127.0.0.1:$broker
log.dirs=$work/zk-broker-data
$single
EOF
    "${java[@]}" zookeeper 512m "$server" "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain \
        "$work/zoo.cfg" &
    CDS_PIDS+=($!)
    cds_wait ZooKeeper "${CDS_PIDS[0]}" 60 cds_port_open "$zk" || failed zookeeper || return 1
    "${java[@]}" zk-broker 512m "$server" "$cp" kafka.Kafka "$work/zk-broker.properties" &
    CDS_PIDS+=($!)
    cds_wait "the ZooKeeper-mode broker" "${CDS_PIDS[1]}" 120 \
        grep -qE "KafkaServer id=1\] started" "$work/zk-broker.out" || failed zk-broker || return 1
    perf "127.0.0.1:$broker" zk || return 1
    stop_all
}

# cds_archive_kafka VERSION: (re)makes $OPT_DIR/kafka-VERSION/ducttape.jsa when out of date.
cds_archive_kafka() {
    local version=$1 dir="$OPT_DIR/kafka-$1"
    local stamp
    stamp=$(cds_stamp "$dir")
    if ((UPDATE == 0)) && [[ -f "$dir/$CDS_ARCHIVE" && "$(cat "$dir/$CDS_ARCHIVE.stamp" 2>/dev/null)" == "$stamp" ]]; then
        log "kafka $version: class-data sharing archive up to date"
        return 0
    fi
    log "kafka $version: making its class-data sharing archive (runs its JVMs once, ≈ 1 min)"
    rm -f -- "$dir/$CDS_ARCHIVE" "$dir/$CDS_ARCHIVE.stamp"
    local work
    work=$(mktemp -d "$OPT_DIR/.cds-kafka-$version.tmp.XXXXXX")
    CLEANUP+=("$work")
    if cds_train_kafka "$dir" "$version" "$work" >"$work/train.log" 2>&1 &&
        cat "$work"/*.lst | grep -v '^#' | awk '!seen[$0]++' >"$work/classes.lst" &&
        java -Xshare:dump "-XX:SharedClassListFile=$work/classes.lst" \
            "-XX:SharedArchiveFile=$work/$CDS_ARCHIVE" -cp "$dir/libs/*" >"$work/dump.log" 2>&1; then
        chmod a+r "$work/$CDS_ARCHIVE"
        mv -f -- "$work/$CDS_ARCHIVE" "$dir/$CDS_ARCHIVE"
        printf '%s\n' "$stamp" >"$dir/$CDS_ARCHIVE.stamp"
        log "kafka $version: $(grep -c . "$work/classes.lst") classes archived in $dir/$CDS_ARCHIVE"
    else
        log "warning: kafka $version: no class-data sharing archive (its JVMs start without one, more slowly):"
        { tail -n 10 "$work/train.log" "$work/dump.log" 2>/dev/null || true; } | sed 's/^/    /' >&2
    fi
}

# ---------------------------------------------------------------------------------------------
# Kafka releases
# ---------------------------------------------------------------------------------------------

# connect_file_version VERSION: the connect-file (FileStream connectors) release to take for
# Kafka VERSION: its own, except where Maven Central does not serve connect-file at that version
# (asked of it: 3.2.2, 4.0.1, 4.2.1, 4.2.2, 4.3.2, 4.4.0 answer 404), then the newest earlier one.
connect_file_version() {
    case "$1" in
        3.2.2) echo 3.2.1 ;;
        4.0.1) echo 4.0.0 ;;
        4.2.1 | 4.2.2) echo 4.2.0 ;;
        4.3.2 | 4.4.0) echo 4.3.1 ;;
        *) echo "$1" ;;
    esac
}

# kafka_artifacts VERSION: what Kafka VERSION's install is resolved from.
# 3.x (and older): ZooKeeper and KRaft modes. ZooKeeper's jars and the reload4j logging binding
# (slf4j-reload4j, as in the 3.9 tarball) come as dependencies of kafka_2.13.
# Kafka Connect: connect-runtime comes with kafka-tools; connect-file adds the FileStream source
# and sink connectors (kafkatest's connect tests use them).
# 4.x: KRaft only. log4j-core and YAML config support come with it; the SLF4J 1.x binding for
# log4j2 is added here (Kafka 4 still uses slf4j-api 1.7). Where connect-file is an older
# release (4.4.0 takes 4.3.1, rebuilt from its sources for 4.4: see connect_file_for_kafka4),
# connect-api is named so that Maven takes the install's own, not connect-file's.
kafka_artifacts() {
    local version=$1 cf
    cf=$(connect_file_version "$1")
    local connect_file=org.apache.kafka:connect-file
    [[ "$cf" == "$version" ]] || connect_file+=":$cf"
    if [[ "$version" == [0-3].* ]]; then
        echo org.apache.kafka:kafka_2.13 org.apache.kafka:kafka-tools "$connect_file"
    else
        echo org.apache.kafka:kafka_2.13 org.apache.kafka:kafka-tools \
            org.apache.logging.log4j:log4j-slf4j-impl:2.25.5 org.apache.kafka:connect-api "$connect_file"
    fi
}

# install_kafka VERSION: /opt/kafka-VERSION from Maven Central (see kafka_artifacts).
install_kafka() {
    # shellcheck disable=SC2046
    RESOLVE_HINT="Is $1 a Kafka release? Maven Central serves the releases listed in https://repo.maven.apache.org/maven2/org/apache/kafka/kafka_2.13/maven-metadata.xml" \
        build_maven_project kafka "$1" $(kafka_artifacts "$1")
}

# ---------------------------------------------------------------------------------------------

[[ -d "$OPT_DIR" ]] || mkdir -p "$OPT_DIR" 2>/dev/null || die "cannot create $OPT_DIR (run as root?)"
[[ -w "$OPT_DIR" ]] || die "$OPT_DIR is not writable (run as root, or set DUCTTAPE_OPT_DIR)"
OPT_DIR=$(cd "$OPT_DIR" && pwd -P)

# One build at a time; leftovers of an interrupted build are removed under the lock.
exec 9>"$OPT_DIR/.ducttape-build.lock"
flock 9
rm -rf -- "$OPT_DIR"/.*.tmp.?????? "$OPT_DIR"/.*.old.[0-9]*

((OS_PACKAGES)) && install_os_packages
if [[ "$CHROMIUM" == 1 ]]; then
    rm -f -- "$OPT_DIR/$NO_CHROMIUM_MARKER"
else
    printf 'Chromium left out by `./build.sh` (%s) on %s\n' "$CHROMIUM_WHY" \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$OPT_DIR/$NO_CHROMIUM_MARKER"
    log "Chromium left out: the report's browser test will report itself skipped ($OPT_DIR/$NO_CHROMIUM_MARKER)"
fi

# One line per system under test. Artifacts without a version take the system's version.
# Kafka: the defaults (3.9.2 and 4.4.0, what the default test run needs), then any release asked
# for with --kafka / DUCTTAPE_KAFKA_VERSIONS, each as kafka_artifacts says.
install_kafka 3.9.2
install_kafka 4.4.0
for v in "${KAFKA_EXTRA[@]+"${KAFKA_EXTRA[@]}"}"; do install_kafka "$v"; done
link_default kafka 3.9.2
for v in 3.9.2 4.4.0 "${KAFKA_EXTRA[@]+"${KAFKA_EXTRA[@]}"}"; do cds_archive_kafka "$v"; done
# REST proxy: kafka-pixy (Mailgun, Go) from the Go module proxy. Confluent's kafka-rest and
# Strimzi's kafka-bridge are not published to Maven Central, so there is no line for them.
# pixy keeps its consumer groups in ZooKeeper; its Kafka client speaks up to Kafka 2.3's protocol
# (with Kafka 4.x only its producer works).
build_go_module kafka-pixy 0.18.0 github.com/mailgun/kafka-pixy
