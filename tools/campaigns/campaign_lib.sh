# campaign_lib.sh - what tools/campaigns/crash_campaign.sh and tools/campaigns/soak.sh share;
# sourced after `set -euo pipefail` with CAMPAIGN set to the script's name.
# Gives log, die, is_mounted, alive, force_unmount, and (campaign_setup) BIN,
# WORK, BASE, SRC_A, SRC_B, MNT, DLOG.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf '%s\n' "$*"; }
die() { printf '%s: error: %s\n' "$CAMPAIGN" "$*" >&2; exit 1; }

# Whether $MNT is a mount point.
is_mounted() { awk -v m="$MNT" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# Whether pid is a live process (a zombie is not).
alive() {
  local s
  [ -r "/proc/$1/stat" ] || return 1
  { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  s=${s##*) }
  [ "${s%% *}" != Z ]
}

# Unmounts $MNT if it is mounted, lazily if it must.
force_unmount() {
  if is_mounted; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null ||
      umount -l "$MNT" 2>/dev/null || true
  fi
}

# Checks FUSE is usable, finds or builds the binary ($SYNCSTORE_BIN, else
# tools/dev/build.sh into ${SYNCSTORE_BUILD_DIR:-build}) and makes the work
# directory $TMPDIR/syncstore-$CAMPAIGN.XXXXXX with mnt/ and tmp/ in it.
campaign_setup() {
  command -v fusermount3 >/dev/null || die "fusermount3 not found (Debian package fuse3)"
  [ -e /dev/fuse ] || die "/dev/fuse is missing"
  if [ -n "${SYNCSTORE_BIN:-}" ]; then
    BIN=$SYNCSTORE_BIN
  else
    log "building syncstore into ${SYNCSTORE_BUILD_DIR:-build} ..."
    BIN=$("$root/tools/dev/build.sh" "${SYNCSTORE_BUILD_DIR:-build}" | tail -n 1)
  fi
  [ -x "$BIN" ] || die "no executable syncstore binary at '$BIN'"
  BIN=$(realpath "$BIN")
  WORK=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/syncstore-$CAMPAIGN.XXXXXX")")
  BASE=$WORK/base SRC_A=$WORK/src-a SRC_B=$WORK/src-b MNT=$WORK/mnt
  DLOG=$WORK/daemon.log
  mkdir -p "$MNT" "$WORK/tmp"
}
