#!/usr/bin/env bash
# Provisions a ducttape worker VM (see the Vagrantfile); runs as root on a Debian/Ubuntu box.
#
#   base.sh                       install Java 17 and OpenSSH, link the systems under test into
#                                 /opt, make /mnt writable, then run build.sh (which installs
#                                 whatever is still missing)
#   base.sh --hosts "A N,A N,…"   only write "address name" pairs to /etc/hosts (local
#                                 hypervisors, where the workers have fixed private addresses)
#
# Environment: DUCTTAPE_REPO (default /vagrant), DUCTTAPE_SHARED_OPT (default /vagrant-opt).
set -euo pipefail

REPO=${DUCTTAPE_REPO:-/vagrant}
SHARED_OPT=${DUCTTAPE_SHARED_OPT:-/vagrant-opt}
export DEBIAN_FRONTEND=noninteractive

log() { printf 'base.sh: %s\n' "$*"; }

if [[ "${1:-}" == "--hosts" ]]; then
    entries=${2:-}
    name=$(hostname)
    # Drop the block we wrote last time, and the VM's own name from loopback lines (Vagrant maps
    # it to 127.0.x.1; brokers must resolve their name to the private address); keep everything
    # else. Written in place (not sed -i), so a bind-mounted /etc/hosts works too.
    hosts=$(sed '/# ducttape workers begin/,/# ducttape workers end/d' /etc/hosts |
        awk -v me="$name" '
            $1 ~ /^127\./ {
                line = $1
                for (i = 2; i <= NF; i++) if ($i != me && index($i, me ".") != 1) line = line " " $i
                if (line != $1) print line
                next
            }
            { print }')
    {
        printf '%s\n' "$hosts"
        echo "# ducttape workers begin"
        tr ',' '\n' <<<"$entries" | sed '/^$/d'
        echo "# ducttape workers end"
    } >/etc/hosts
    log "/etc/hosts: $(tr ',' ' ' <<<"$entries")"
    exit 0
fi

# Java 17 (Kafka 4 brokers need it) and OpenSSH (the framework reaches the workers over SSH).
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
systemctl enable --now ssh >/dev/null 2>&1 || systemctl enable --now sshd >/dev/null 2>&1 || true

# Installs built on the host (DUCTTAPE_OPT_DIR=.vagrant/opt ./build.sh --no-os-packages) arrive in
# $SHARED_OPT: link each complete one, and the default links (e.g. kafka -> kafka-3.9.2), into
# /opt. An install is complete when build.sh has written its marker.
if [[ -d "$SHARED_OPT" ]]; then
    for dir in "$SHARED_OPT"/*/; do
        [[ -d "$dir" ]] || continue
        dir=${dir%/}
        name=$(basename "$dir")
        [[ -L "$dir" || ! -f "$dir/.ducttape-installed" ]] && continue
        if [[ -e "/opt/$name" && ! -L "/opt/$name" ]]; then
            log "keeping /opt/$name (a directory of this VM)"
            continue
        fi
        ln -sfn "$dir" "/opt/$name"
        log "/opt/$name -> $dir"
    done
    for link in "$SHARED_OPT"/*; do
        [[ -L "$link" ]] || continue
        name=$(basename "$link")
        [[ -e "/opt/$name" && ! -L "/opt/$name" ]] && continue
        ln -sfn "$(readlink "$link")" "/opt/$name"
        log "/opt/$name -> $(readlink "$link")"
    done
fi

# Services keep their data and logs under /mnt (on EC2 that is the instance's local disk).
mkdir -p /mnt
chmod a+rwx /mnt

# Whatever the host did not provide, build.sh installs (OS packages the nodes need, and the
# pinned systems from Maven); with everything linked above it only checks and returns. A
# worker is a node, not where the tests run: it needs no Chromium (the report's browser test).
if [[ -x "$REPO/build.sh" ]]; then
    "$REPO/build.sh" --no-chromium
else
    log "no $REPO/build.sh: the systems under test were not checked"
    exit 1
fi
