# Sourced by peers.sh and reload.sh: sets PINDNS_BIN to a pindns release
# binary copied into $WORK, so that a rebuild in the repository during a run
# does not change the binary under test.
#   PINDNS_BIN set  -> used as is
#   PINDNS_REV set  -> that commit, exported with git archive into
#                      $WORK/src-REV and built there (target dir $WORK/target-rev)
#   neither         -> cargo build --release in the repository (working tree),
#                      copied to $WORK/bin/pindns
build_pindns() {
    local repo=$1 work=$2 rev src
    [ -n "${PINDNS_BIN:-}" ] && return 0
    if [ -n "${PINDNS_REV:-}" ]; then
        rev=$(git -C "$repo" rev-parse --short "$PINDNS_REV") || return 1
        src=$work/src-$rev
        if [ ! -x "$work/pindns-$rev" ]; then
            rm -rf "$src"; mkdir -p "$src"
            git -C "$repo" archive "$rev" | tar -x -C "$src" || return 1
            echo "[build] cargo build --release of $rev in $src" >&2
            (cd "$src" && CARGO_TARGET_DIR=$work/target-rev cargo build --release >&2) || return 1
            cp "$work/target-rev/release/pindns" "$work/pindns-$rev.new" && mv "$work/pindns-$rev.new" "$work/pindns-$rev"
        fi
        PINDNS_BIN=$work/pindns-$rev
        PINDNS_DESC="commit $rev"
    else
        echo "[build] cargo build --release in $repo (working tree)" >&2
        (cd "$repo" && cargo build --release >&2) || return 1
        mkdir -p "$work/bin"
        cp "$repo/target/release/pindns" "$work/bin/pindns.new" && mv "$work/bin/pindns.new" "$work/bin/pindns"
        PINDNS_BIN=$work/bin/pindns
        PINDNS_DESC="working tree at $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ', src modified')"
    fi
}
