#!/bin/bash
# A configure-style shell script: every check runs in a forked subshell (bash builtins only,
# so no child execs and each child's COW faults are on bash's own pages), as configure
# scripts and build drivers do with ( ... ) and $( ... ). Handshake: prints READY <pid>,
# waits for a line on stdin (the recorder registers this process meanwhile), then runs
# CHECKS checks, PAR at a time, and prints RESULT <json>.
CHECKS=${1:-32}
PAR=${2:-4}
LINES=${3:-200}
echo "READY $$"
read -r _go
declare -A results
pids=()
failed=0
for ((i = 0; i < CHECKS; i++)); do
	(
		s=""
		for ((j = 0; j < LINES; j++)); do s+="key$j=value$((j * i))"$'\n'; done
		declare -A kv
		while IFS='=' read -r k v; do [[ -n $k ]] && kv[$k]=$v; done <<<"$s"
		((${#kv[@]} == LINES))
	) &
	pids+=($!)
	if (((i + 1) % PAR == 0)); then
		for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
		pids=()
	fi
	results[$i]=$(printf 'check%d=%s' "$i" "ok")
done
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
echo "RESULT {\"checks\": $CHECKS, \"par\": $PAR, \"lines\": $LINES, \"results\": ${#results[@]}, \"failed\": $failed, \"bash\": \"$BASH_VERSION\"}"
((failed == 0))
