#!/usr/bin/env bash
# Drive the whole gpt-tui flow from the keyboard in tmux, and print what the screen showed:
# open the app on an empty store (it starts an engine), queue the quickstart preset with fewer
# steps from the editor and watch it train in the monitor, queue a second run at a hotter
# learning rate, then select both and compare them. Takes about three minutes on a 2-core CPU.
#
#   scripts/tui_demo.sh [STORE]      (default: a new temporary folder, removed at the end)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
STORE="${1:-$(mktemp -d)/runs}"
KEEP_STORE="${1:+yes}"
SOCK="$(mktemp -u /tmp/gpt-tui-demo-XXXXXX.sock)"
STEPS=120
WIDTH=120
HEIGHT=40

tm() { tmux -S "$SOCK" "$@"; }
keys() { tm send-keys "$@"; sleep 0.4; }
tabs() { for _ in $(seq "$1"); do tm send-keys Tab; done; sleep 0.3; }
shot() { echo; echo "=== $1 ==="; tm capture-pane -p; }
states() { "$PY" - "$STORE" <<'EOF'
import sys
from engine.store import runs as st
s = st.Store(sys.argv[1])
print(" ".join(str(v.state) for v in s.statuses().values() if isinstance(v, st.Status)))
EOF
}
wait_until_done() {  # until every run has ended (or the timeout), printing the monitor now and then
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    case " $(states) " in *" queued "* | *" running "*) sleep 3 ;; *) return 0 ;; esac
  done
  echo "(gave up waiting: $(states))"
}
cleanup() {
  tm kill-server 2>/dev/null || true
  rm -f "$SOCK"
  "$PY" -m tui --runs "$STORE" engine stop >/dev/null 2>&1 || true
  [ -n "$KEEP_STORE" ] || rm -rf "$(dirname "$STORE")"
}
trap cleanup EXIT

mkdir -p "$STORE"
echo "store: $STORE   terminal: ${WIDTH}x${HEIGHT}"
tm new-session -d -x "$WIDTH" -y "$HEIGHT" "cd '$ROOT' && '$PY' -m tui --runs '$STORE'"
sleep 4
shot "1. the runs screen on an empty store; the app has started an engine (top bar)"

keys n
sleep 2
# The editor opens on the quickstart preset with n_layer focused; Tab walks the fields in order:
# n_layer n_head n_embd block_size dropout bias learning_rate min_lr warmup_iters lr_decay_iters
# decay_lr max_iters. A focused field selects its text, so typing replaces it.
tabs 11
keys "$STEPS"
keys BTab BTab BTab BTab BTab BTab BTab BTab BTab BTab BTab  # back to n_layer
keys BTab BTab BTab                                          # wraps to the run name
keys "quickstart-demo"
sleep 1
shot "2. the editor: quickstart with max_iters=$STEPS, a name, live estimates"

keys C-t   # queue & watch
sleep 12
shot "3. the monitor, a few seconds in"
sleep 20
shot "4. the monitor, later"

keys Escape
keys n
sleep 2
tabs 6
keys "3e-3"
tabs 5
keys "$STEPS"
keys BTab BTab BTab BTab BTab BTab BTab BTab BTab BTab BTab
keys BTab BTab BTab
keys "hot-lr"
sleep 1
shot "5. a second run: learning_rate 3e-3"
keys C-s   # queue only
sleep 2
shot "6. back on the runs screen: one running, one queued"

wait_until_done 400
keys Home m
sleep 3
shot "7. the monitor of the newest run, finished"
keys Escape
sleep 2
keys Home Space Space
keys c
sleep 3
shot "8. compare: val loss by step, and only the hyperparameters that differ"
keys x
sleep 2
shot "9. compare by tokens seen (x)"
keys Escape
sleep 1
shot "10. the runs screen: both done, the best one starred"
keys q
