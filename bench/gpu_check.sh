#!/usr/bin/env bash
# The GPU path, checked and measured in one go: bench/gpu_check.sh RESULTS_DIR
#
# On a machine with an NVIDIA GPU: runs the CUDA tests (pytest -m cuda), trains the default
# preset on cuda for 3 epochs through the CLI and through the app in tmux, and runs the epoch
# benchmark on the GPU (ours fp32, tf32, bf16 against the idiom fp32 and autocast) at the three
# shapes. Each step has its own timeout; the whole ends within 8 minutes. Everything goes into
# RESULTS_DIR: one file per step and summary.txt (one line per step: ok, FAILED or TIMED OUT).
#
# Exit status: 0 every step passed; 1 a step failed or timed out (see summary.txt);
# 2 usage; 3 no CUDA GPU visible here (one line on stderr, nothing run, nothing written).
#
# PYTHON names the interpreter (default: .venv/bin/python, else python3).
set -u

if [ $# -ne 1 ]; then
    echo "usage: bench/gpu_check.sh RESULTS_DIR" >&2
    exit 2
fi
cd "$(dirname "$0")/.." || exit 2
REPO=$(pwd)
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=$(command -v python3)

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA GPU visible here (torch.cuda.is_available() is False): nothing run" >&2
    exit 3
fi

mkdir -p "$1" || exit 2
RESULTS=$(cd "$1" && pwd)
SUMMARY="$RESULTS/summary.txt"
STARTED=$(date +%s)
STATUS=0
: >"$SUMMARY"
MNIST=("$PY" -c 'import sys; from tui.cli import main; sys.exit(main())')

# step NAME SECONDS COMMAND...: run it under `timeout`, output to NAME.txt, a line in summary.
step() {
    local name=$1 seconds=$2
    shift 2
    local began=$(date +%s)
    timeout --kill-after=10 "$seconds" "$@" >"$RESULTS/$name.txt" 2>&1
    local rc=$?
    local verdict=ok
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then verdict="TIMED OUT after ${seconds}s"; STATUS=1
    elif [ $rc -ne 0 ]; then verdict="FAILED (exit $rc)"; STATUS=1; fi
    echo "$name: $verdict ($(( $(date +%s) - began ))s)" | tee -a "$SUMMARY"
}

# The app in tmux: set epochs to 3 in the form (4 Tabs from the preset selector), start with
# ctrl+r once the field shows 3, wait for "finished" on the first line, save the screen, quit with ctrl+q.
app_in_tmux() {
    local session="gpu-check-$$" deadline=$(( $(date +%s) + $1 )) screen=""
    tmux new-session -d -s "$session" -x 160 -y 48 \
        "cd '$REPO' && TERM=xterm-256color '$PY' -c 'from pathlib import Path; from tui.app import run_app; run_app(Path(\"$RESULTS/runs-app\"), None, \"cuda\")'; echo EXIT=\$?; sleep 30" \
        || return 1
    wait_screen() {  # PATTERN [first-line]: poll the pane until PATTERN shows or the deadline
        while [ "$(date +%s)" -lt "$deadline" ]; do
            screen=$(tmux capture-pane -p -t "$session" 2>/dev/null)
            local text=$screen
            [ "${2:-}" = first-line ] && text=$(head -n 1 <<<"$screen")
            grep -q -- "$1" <<<"$text" && return 0
            sleep 0.5
        done
        return 1
    }
    local rc=0
    # "loaded in" on the status line: torch and the data are loaded, the form takes keys.
    if wait_screen ready first-line && wait_screen "loaded in"; then
        for key in Tab Tab Tab Tab C-u 3; do tmux send-keys -t "$session" "$key"; sleep 0.5; done
        wait_screen "epochs        3 " || rc=1
        tmux send-keys -t "$session" C-r
        wait_screen finished first-line || rc=1
        echo "$screen"
        tmux send-keys -t "$session" C-q
        wait_screen "EXIT=0" || rc=1
    else
        echo "$screen"; rc=1
    fi
    tmux kill-session -t "$session" 2>/dev/null
    return $rc
}

{
    echo "started $(date -u +%FT%TZ) in $REPO"
    nvidia-smi 2>&1 | head -n 20
    "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "|", torch.cuda.get_device_name(0), "| bf16", torch.cuda.is_bf16_supported(), "| capability", torch.cuda.get_device_capability(0))'
} >"$RESULTS/machine.txt" 2>&1

step cuda_tests 110 "$PY" -m pytest -q -m cuda tests
step cli_train 90 "${MNIST[@]}" --runs-dir "$RESULTS/runs-cli" train --preset default --epochs 3 --device cuda
if command -v tmux >/dev/null; then
    step app_train 100 bash -c "$(declare -f app_in_tmux); PY='$PY' REPO='$REPO' RESULTS='$RESULTS' app_in_tmux 90"
else
    echo "app_train: FAILED (tmux is not installed)" | tee -a "$SUMMARY"; STATUS=1
fi
step epoch_benchmark 140 "$PY" bench/epoch_time.py --device cuda --repeats 5
echo "total $(( $(date +%s) - STARTED ))s, exit $STATUS" | tee -a "$SUMMARY"
exit $STATUS
