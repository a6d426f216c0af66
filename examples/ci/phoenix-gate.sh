#!/usr/bin/env bash
# phoenix-gate.sh: the Phoenix gate of a CI job, called by the GitHub
# Actions workflow and the GitLab CI job beside it (docs/ci.md).
#
#   phoenix-gate.sh validate    every collector config in $PIPELINES must pass
#                               `phoenix pipeline validate` (the real collector)
#   phoenix-gate.sh experiment  every spec in $EXPERIMENTS runs on live traffic
#                               (`phoenix experiment run --wait`) and must succeed
#
# Exit status: 0 pass; 1 a config is invalid or a verdict failed or was
# inconclusive; 3 Phoenix could not answer (unreachable, timed out, spec
# refused). It needs phoenix (and, for validate, phoenix-collector or
# $PHOENIX_COLLECTOR_BIN) on PATH, PHOENIX_API_URL and PHOENIX_TOKEN (an API
# key with role operator and scopes read,write) for experiment, and jq.
# On GitHub it writes ::error annotations on the files.
set -uo pipefail

PIPELINES=${PIPELINES:-pipelines}
EXPERIMENTS=${EXPERIMENTS:-experiments}
EXPERIMENT_TIMEOUT=${EXPERIMENT_TIMEOUT:-30m}

# annotate FILE MESSAGE: a GitHub annotation on FILE, a plain line elsewhere.
annotate() {
	if [ "${GITHUB_ACTIONS:-}" = true ]; then
		echo "::error file=$1::$2"
	else
		echo "error: $1: $2" >&2
	fi
}

files() {
	find "$1" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' \) 2>/dev/null | sort
}

validate() {
	local status=0 f code out
	out=$(mktemp)
	if [ -z "$(files "$PIPELINES")" ]; then
		echo "no collector configs (*.yaml, *.yml) in $PIPELINES: nothing to validate"
	fi
	for f in $(files "$PIPELINES"); do
		if phoenix pipeline validate "$f" -o json >"$out"; then
			echo "$f: valid ($(jq -r .config_hash "$out"))"
			continue
		else
			code=$?
		fi
		if [ "$code" -ne 1 ]; then
			annotate "$f" "could not validate (phoenix exit $code)"
			return 3
		fi
		jq -r '.errors[] | "\(.path): \(.message)"' "$out" | while IFS= read -r line; do annotate "$f" "$line"; done
		status=1
	done
	rm -f "$out"
	return $status
}

experiment() {
	local status=0 spec code out
	out=$(mktemp)
	specs=$(files "$EXPERIMENTS")
	if [ -z "$specs" ]; then
		echo "no experiment specs in $EXPERIMENTS" >&2
		return 3
	fi
	for spec in $specs; do
		echo "$spec: running the experiment (up to $EXPERIMENT_TIMEOUT)"
		phoenix experiment run -f "$spec" --wait --timeout "$EXPERIMENT_TIMEOUT" -o json >"$out"
		code=$?
		verdict=$(jq -r '"\(.id) \(.state): winner \(.results.winner // "-"); \((.results.reasons // []) | join("; "))"' "$out" 2>/dev/null || echo "no verdict")
		case $code in
		0) echo "$spec: $verdict" ;;
		1) annotate "$spec" "the candidate failed: $verdict"; status=1 ;;
		2) annotate "$spec" "inconclusive, not enough data for a verdict: $verdict"; status=1 ;;
		*) annotate "$spec" "Phoenix gave no verdict (phoenix exit $code)"; rm -f "$out"; return 3 ;;
		esac
	done
	rm -f "$out"
	return $status
}

case "${1:-}" in
validate) validate ;;
experiment) experiment ;;
*)
	echo "usage: $0 validate|experiment" >&2
	exit 4
	;;
esac
