#!/usr/bin/env bash
# taskctl.sh: read and update this factory checkout's Mission Control tasks.
#
# Reads .mission_control/tasks.json (written by factory_init.py). Status changes are written
# there at once and pushed to the orchestrator, which is the single source of truth; when it
# cannot be reached they wait in .mission_control/queue.jsonl until `taskctl sync` (or any
# later command that reaches it) pushes them, in order.
#
# Needs bash, jq, curl and flock (util-linux). Run `taskctl.sh --help` for usage.

set -u -o pipefail

readonly EXIT_OK=0 EXIT_ERROR=1 EXIT_USAGE=2 EXIT_NONE=3 EXIT_CONFLICT=4
readonly STATUSES="pending in_progress complete blocked"
readonly ID_RE='^[A-Za-z0-9_-]{1,64}$'

usage() {
	cat <<'EOF'
Usage: taskctl.sh <command> [arguments]

Reading (local, works offline):
  list [STATUS]              one task a line: uuid<TAB>file_path<TAB>status
  get <id>                   the task's instruction
  status <id>                the task's status
  show <id>                  the task as JSON
  next                       uuid of the first pending task (exit 3 when there is none)
  queue                      status changes waiting to be pushed: id<TAB>uuid<TAB>status<TAB>queued_at

Changing (local at once, then pushed to the orchestrator):
  start <id>                 claim the task: pending -> in_progress (refused if no longer pending)
  complete <id>              mark the task complete
  block <id> <reason>        mark the task blocked, with the reason sent to the operation log
  sync                       push queued changes now

Asking:
  help <id> [<question>] [--error TEXT] [--agent NAME] [--json]
                             ask the orchestrator for help with a task

Environment:
  MISSION_CONTROL_URL        orchestrator base URL (default: "orchestrator_url" in tasks.json,
                             which factory_init.py stores)
  MISSION_CONTROL_TOKEN      bearer token for the orchestrator's /api routes
  MISSION_CONTROL_DIR        the .mission_control folder (default: ./.mission_control, or the
                             nearest one in a parent folder)
  MISSION_CONTROL_AGENT      agent name sent with `help` (default: $USER)
  MISSION_CONTROL_TIMEOUT    seconds per request (default: 10)

Exit codes:
  0  done; a change the orchestrator could not be reached for is queued (a warning says so)
  1  error: no tasks.json, unknown task id, change rejected, token refused, I/O failure
  2  bad command line
  3  nothing to do: `next` found no pending task; `sync` left changes queued (unreachable)
  4  conflict: the orchestrator has the task in another state (e.g. `start` on a claimed task)
EOF
}

err() { printf 'taskctl: %s\n' "$*" >&2; }
die() { err "$2"; exit "$1"; }

TMP_FILES=()
cleanup() { [ "${#TMP_FILES[@]}" -eq 0 ] || rm -f -- "${TMP_FILES[@]}"; }
trap cleanup EXIT

# --------------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------------

require_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || die $EXIT_ERROR "$tool is required but not installed"
	done
}

# The .mission_control folder: $MISSION_CONTROL_DIR, else the nearest one from here upwards
# (agents often work in a subfolder of the checkout).
find_mc_dir() {
	if [ -n "${MISSION_CONTROL_DIR:-}" ]; then
		MC_DIR=${MISSION_CONTROL_DIR%/}
	else
		local dir=$PWD
		MC_DIR=""
		while :; do
			if [ -f "$dir/.mission_control/tasks.json" ]; then
				MC_DIR="$dir/.mission_control"
				break
			fi
			[ "$dir" = / ] || [ -z "$dir" ] && break
			dir=$(dirname -- "$dir")
		done
		[ -n "$MC_DIR" ] || MC_DIR="$PWD/.mission_control"
	fi
	TASKS_FILE="$MC_DIR/tasks.json"
	QUEUE_FILE="$MC_DIR/queue.jsonl"
	REJECTED_FILE="$MC_DIR/queue.rejected.jsonl"
	LOCK_FILE="$MC_DIR/.lock"
	SYNC_LOCK_FILE="$MC_DIR/.sync.lock"
}

# Each jq start costs ~40 ms here, so a command checks tasks.json in the same jq run that
# reads or changes it rather than in a run of its own.
load_tasks() {
	find_mc_dir
	[ -f "$TASKS_FILE" ] || die $EXIT_ERROR "no $TASKS_FILE; run factory_init.py <ORDER_ID> <ORCHESTRATOR_URL> in the checkout first"
}

die_invalid_tasks() {
	die $EXIT_ERROR "$TASKS_FILE is not a task list (invalid JSON or no \"tasks\" array)"
}

die_unknown_id() {
	die $EXIT_ERROR "unknown task id '$1' (not in $TASKS_FILE)"
}

check_id_form() {
	[ -n "${1:-}" ] || die $EXIT_USAGE "missing task id (see taskctl.sh --help)"
	[[ $1 =~ $ID_RE ]] || die $EXIT_ERROR "unknown task id '$1' (not a task id)"
}

# task_query ID FILTER: print FILTER applied to the task.
task_query() {
	local out
	out=$(jq -r --arg id "$1" 'if (.tasks | type) != "array" then "!invalid"
		else (first(.tasks[] | select(.uuid == $id)) // null) as $task
		| if $task == null then "!unknown" else "+", ($task | '"$2"') end end' \
		"$TASKS_FILE" 2>/dev/null) || die_invalid_tasks
	case $out in
	"+") echo ;;
	"+"$'\n'*) printf '%s\n' "${out#+$'\n'}" ;;
	"!unknown") die_unknown_id "$1" ;;
	*) die_invalid_tasks ;;
	esac
}

resolve_remote() {
	local url=${MISSION_CONTROL_URL:-}
	[ -n "$url" ] || url=$(jq -r '.orchestrator_url // empty' "$TASKS_FILE" 2>/dev/null)
	url=${url%/}
	url=${url%/api}
	case $url in
	http://* | https://* | "") ;;
	*)
		err "ignoring orchestrator URL '$url': not http(s)"
		url=""
		;;
	esac
	BASE_URL=$url
	TOKEN=${MISSION_CONTROL_TOKEN:-}
	TIMEOUT=${MISSION_CONTROL_TIMEOUT:-10}
	[[ $TIMEOUT =~ ^[0-9]+([.][0-9]+)?$ ]] || TIMEOUT=10
	LOCK_WAIT=${MISSION_CONTROL_LOCK_WAIT:-30}
	SYNC_WAIT=${MISSION_CONTROL_SYNC_WAIT:-60}
}

# The tasks file and one task id in it.
load_task() {
	check_id_form "${1:-}"
	load_tasks
	task_query "$1" '.uuid' >/dev/null
}

# --------------------------------------------------------------------------------------------
# Locked file updates. Every read-modify-write of tasks.json and the queue holds the data lock
# (.lock, which factory_init.py also takes) and replaces the file by rename, so concurrent
# agents lose no update and nobody ever reads a half-written file.
# --------------------------------------------------------------------------------------------

with_lock() {
	{
		flock -w "$LOCK_WAIT" 9 || {
			err "could not lock $LOCK_FILE within ${LOCK_WAIT}s"
			return 1
		}
		"$@"
	} 9>>"$LOCK_FILE"
}

# replace_with_jq FILE JQ-ARGS...: FILE := jq output, via a temporary file in the same folder
# (rename is atomic only within one filesystem). The caller holds the lock.
replace_with_jq() {
	local file=$1 tmp
	shift
	JQ_ERROR=""
	tmp=$(mktemp "$MC_DIR/.${file##*/}.XXXXXX") || return 1
	TMP_FILES+=("$tmp")
	if [ -e "$file" ]; then
		JQ_ERROR=$(jq "$@" "$file" 2>&1 >"$tmp") || return 1
		chmod --reference="$file" "$tmp" 2>/dev/null || chmod 644 "$tmp"
	else
		: >"$tmp"
		chmod 644 "$tmp"
	fi
	sync -- "$tmp" 2>/dev/null || true
	mv -f -- "$tmp" "$file"
}

# set_local_status UUID STATUS [REASON]: a blocked task keeps its reason unless a new one is
# given; any other status drops the reason and follow-up id. Fails (JQ_ERROR says why) on an
# unknown id or an invalid tasks.json.
set_local_status() {
	# shellcheck disable=SC2016 # $id, $st and $reason are jq variables
	replace_with_jq "$TASKS_FILE" --arg id "$1" --arg st "$2" --arg reason "${3:-}" '
		if (.tasks | type) != "array" then error("not a task list")
		elif any(.tasks[]; .uuid == $id) | not then error("unknown task id")
		else .tasks |= map(if .uuid == $id then
			.status = $st
			| if $st == "blocked" then (if $reason != "" then .blocked_reason = $reason else . end)
			  else del(.blocked_reason, .followup_id) end
		else . end) end'
}

# Queue lines are JSON objects; `fromjson?` skips a line left torn by a crash mid-append.
queue_snapshot() {
	[ -s "$QUEUE_FILE" ] || return 0
	jq -c -R 'fromjson? // empty | select(type == "object")' "$QUEUE_FILE"
}

# One line per queued entry, ready for push_entry: id, uuid, status, request body, entry.
# All fields are compact JSON or plain ids, so they hold no tab or newline.
queue_work() {
	[ -s "$QUEUE_FILE" ] || return 0
	jq -r -R 'fromjson? // empty | select(type == "object") |
		[(.id // "" | tostring), (.uuid // "" | tostring), (.status // "" | tostring),
		 ({status} + (if .expected_status then {expected_status} else {} end) | tojson),
		 tojson] | join("\t")' "$QUEUE_FILE"
}

# Entry ids are unique and lines are written compact by this script, so a fixed-string grep
# finds an entry's line (cheaper than another jq run).
queue_remove() {
	[ -e "$QUEUE_FILE" ] || return 0
	local tmp
	tmp=$(mktemp "$MC_DIR/.queue.jsonl.XXXXXX") || return 1
	TMP_FILES+=("$tmp")
	grep -vF -- "\"id\":\"$1\"" "$QUEUE_FILE" >"$tmp"
	[ $? -le 1 ] || return 1 # 1 only means no line is left
	chmod --reference="$QUEUE_FILE" "$tmp" 2>/dev/null || true
	mv -f -- "$tmp" "$QUEUE_FILE"
}

# enqueue_change UUID STATUS EXPECTED REASON: record the change locally (tasks.json and the
# queue) in one locked step. Sets ENTRY_ID.
enqueue_change() {
	local entry now
	ENTRY_ID="$(date +%s%N)-$$-$RANDOM"
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	if [ -z "$4" ]; then
		# Only ids and status names: nothing to escape, so no jq run is needed.
		entry=$(printf '{"id":"%s","op":"status","uuid":"%s","status":"%s","queued_at":"%s"%s}' \
			"$ENTRY_ID" "$1" "$2" "$now" "${3:+,\"expected_status\":\"$3\"}")
	else
		entry=$(jq -cn --arg id "$ENTRY_ID" --arg uuid "$1" --arg st "$2" --arg exp "$3" \
		--arg reason "$4" --arg at "$now" '
		{id: $id, op: "status", uuid: $uuid, status: $st, queued_at: $at}
		+ (if $exp != "" then {expected_status: $exp} else {} end)
		+ (if $reason != "" then {reason: $reason} else {} end)') || return 1
	fi
	set_local_status "$1" "$2" "$4" || return 1
	printf '%s\n' "$entry" >>"$QUEUE_FILE" || {
		err "could not append to $QUEUE_FILE"
		return 1
	}
}

# reject_entry ID LINE HTTP_CODE ERROR_JSON: move an entry the orchestrator refused to the
# rejected log (it would fail again) and drop it from the queue.
reject_entry() {
	local id=$1 line=$2 code=$3 error=$4
	jq -cn --argjson entry "$line" --arg code "$code" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--argjson error "$error" \
		'$entry + {rejected_at: $at, http_status: ($code | tonumber? // $code), error: $error}' \
		>>"$REJECTED_FILE" || return 1
	queue_remove "$id"
}

# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

# http METHOD PATH [BODY] [TIMEOUT]: sets HTTP_CODE (000 when unreachable), HTTP_BODY and
# HTTP_ERROR. The token goes in through a file descriptor, never on curl's command line.
http() {
	local method=$1 path=$2 body=${3-} max_time=${4:-$TIMEOUT} out errf
	out=$(mktemp) && errf=$(mktemp) || return 1
	TMP_FILES+=("$out" "$errf")
	local args=(-sS -X "$method" --connect-timeout 5 --max-time "$max_time"
		-o "$out" -w '%{http_code}' -H 'Accept: application/json' -H 'User-Agent: taskctl/1')
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary @-)
	if [ -n "$TOKEN" ]; then
		HTTP_CODE=$(printf '%s' "$body" | curl "${args[@]}" \
			-H @<(printf 'Authorization: Bearer %s\n' "$TOKEN") -- "$BASE_URL$path" 2>"$errf")
	else
		HTTP_CODE=$(printf '%s' "$body" | curl "${args[@]}" -- "$BASE_URL$path" 2>"$errf")
	fi
	[[ $HTTP_CODE =~ ^[0-9]{3}$ ]] || HTTP_CODE=000
	HTTP_BODY=$(cat "$out")
	HTTP_ERROR=$(head -c 300 "$errf")
	rm -f -- "$out" "$errf"
}

# The `{"error": {...}}` of the last answer as compact JSON (or a synthesized one).
http_error_json() {
	local json
	json=$(jq -c 'if type != "object" then {message: tostring}
		elif (.error | type) == "object" then .error
		elif .error then {message: (.error | tostring)}
		else {message: "no error in the answer"} end' <<<"$HTTP_BODY" 2>/dev/null)
	[ -n "$json" ] || json=$(jq -cn --arg m "${HTTP_BODY:0:200}" '{message: $m}')
	printf '%s' "$json"
}

http_error_text() {
	if [ "$HTTP_CODE" = 000 ]; then
		printf 'cannot reach %s: %s' "$BASE_URL" "${HTTP_ERROR:-no answer}"
		return
	fi
	local text
	text=$(jq -r 'if (.error | type) == "object" then
			[(.error.code // empty), (.error.message // empty)] | join(": ")
		elif .error then .error | tostring else empty end' <<<"$HTTP_BODY" 2>/dev/null)
	printf 'HTTP %s%s' "$HTTP_CODE" "${text:+ $text}"
	if [ "$HTTP_CODE" = 401 ] || [ "$HTTP_CODE" = 403 ]; then
		if [ -n "$TOKEN" ]; then printf ' (check MISSION_CONTROL_TOKEN)'; else printf ' (set MISSION_CONTROL_TOKEN)'; fi
	fi
}

# --------------------------------------------------------------------------------------------
# Pushing the queue
# --------------------------------------------------------------------------------------------

# Push queued changes in order, one process at a time (.sync.lock), so a change is never sent
# twice. Sets FLUSH_STOP to why it stopped early ("" when the queue was drained) and counts.
flush_queue() {
	FLUSH_STOP="" FLUSH_PUSHED=0 FLUSH_REJECTED=0 FLUSH_CONFLICTS=0
	[ -s "$QUEUE_FILE" ] || return 0
	if [ -z "$BASE_URL" ]; then
		FLUSH_STOP=no_url
		return 0
	fi
	exec 8>>"$SYNC_LOCK_FILE"
	if ! flock -w "$SYNC_WAIT" 8; then
		FLUSH_STOP=busy
		exec 8>&-
		return 0
	fi
	local entries id uuid status body line
	entries=$(with_lock queue_work)
	while IFS=$'\t' read -r id uuid status body line; do
		[ -n "$id" ] || continue
		push_entry "$id" "$uuid" "$status" "$body" "$line" || break
	done <<<"$entries"
	exec 8>&-
}

# push_entry ID UUID STATUS BODY LINE: returns non-zero when pushing must stop (unreachable,
# server error, refused token).
push_entry() {
	local id=$1 uuid=$2 status=$3 body=$4 line=$5 current
	if ! [[ $uuid =~ $ID_RE ]] || [[ " $STATUSES " != *" $status "* ]]; then
		with_lock reject_entry "$id" "$line" 0 '{"code":"invalid_entry","message":"malformed queue entry"}'
		FLUSH_REJECTED=$((FLUSH_REJECTED + 1))
		return 0
	fi
	http POST "/api/task/$uuid/status" "$body"
	case $HTTP_CODE in
	2??)
		with_lock push_succeeded "$id" "$uuid" "$status"
		FLUSH_PUSHED=$((FLUSH_PUSHED + 1))
		[ "$status" != blocked ] || log_block_reason "$line"
		return 0
		;;
	409)
		# Someone else changed the task first: keep their state locally, report ours.
		current=$(jq -r '.error.details.current_status // empty' <<<"$HTTP_BODY" 2>/dev/null)
		if [ -z "$current" ]; then
			local saved_body=$HTTP_BODY saved_code=$HTTP_CODE
			http GET "/api/task/$uuid"
			[ "${HTTP_CODE:0:1}" = 2 ] && current=$(jq -r '.status // empty' <<<"$HTTP_BODY" 2>/dev/null)
			HTTP_BODY=$saved_body HTTP_CODE=$saved_code
		fi
		with_lock push_rejected "$id" "$line" 409 "$(http_error_json)" "$uuid" "$current"
		FLUSH_CONFLICTS=$((FLUSH_CONFLICTS + 1))
		return 0
		;;
	401 | 403)
		FLUSH_STOP=auth
		FLUSH_MESSAGE=$(http_error_text)
		return 1
		;;
	000 | 408 | 429 | 5??)
		FLUSH_STOP=unreachable
		FLUSH_MESSAGE=$(http_error_text)
		return 1
		;;
	*)
		# 400, 404, 422...: the orchestrator will never accept this change.
		with_lock push_rejected "$id" "$line" "$HTTP_CODE" "$(http_error_json)" "$uuid" ""
		FLUSH_REJECTED=$((FLUSH_REJECTED + 1))
		return 0
		;;
	esac
}

# tasks.json already shows the change (it was written when queued), so only the queue moves.
push_succeeded() {
	queue_remove "$1"
}

push_rejected() { # ID LINE CODE ERROR UUID CURRENT_STATUS
	reject_entry "$1" "$2" "$3" "$4" || return 1
	[ -z "$6" ] || set_local_status_if_unqueued "$5" "$6" || true
}

# Adopt the orchestrator's status unless a newer local change for the task is still queued.
set_local_status_if_unqueued() {
	if [ -s "$QUEUE_FILE" ] && grep -qF "\"uuid\":\"$1\"" "$QUEUE_FILE"; then
		return 0
	fi
	set_local_status "$1" "$2"
}

# The block reason goes to the operation log (the status route takes none); best effort.
log_block_reason() {
	local line=$1 body
	body=$(jq -c --slurpfile doc "$TASKS_FILE" --arg agent "${MISSION_CONTROL_AGENT:-${USER:-agent}}" '
		{source: "taskctl", operation: "task_blocked", level: "warn", task_uuid: .uuid,
		 order_id: ($doc[0].order_id // null),
		 details: {reason: (.reason // ""), agent: $agent, queued_at: .queued_at}}' <<<"$line") || return 0
	http POST /api/ops/log "$body" 3
}

# outcome ID: "queued", "rejected" or "pushed" for a queue entry id.
entry_outcome() {
	if [ -s "$QUEUE_FILE" ] && grep -qF "\"id\":\"$1\"" "$QUEUE_FILE"; then
		echo queued
	elif [ -s "$REJECTED_FILE" ] && grep -qF "\"id\":\"$1\"" "$REJECTED_FILE"; then
		echo rejected
	else
		echo pushed
	fi
}

rejection_text() {
	jq -r -R --arg id "$1" 'fromjson? // empty | select(.id == $id)
		| "HTTP \(.http_status)" + (if .error.code then " \(.error.code)" else "" end)
		  + (if .error.message then ": \(.error.message)" else "" end)' "$REJECTED_FILE" | tail -n 1
}

queued_warning() {
	case $FLUSH_STOP in
	no_url) err "$1 saved locally and queued: no orchestrator URL (set MISSION_CONTROL_URL or re-run factory_init.py)" ;;
	busy) err "$1 saved locally and queued: another taskctl is pushing; run 'taskctl sync' later" ;;
	auth) err "$1 saved locally and queued, but the orchestrator refused the token: $FLUSH_MESSAGE" ;;
	*) err "[QUEUED] $1 saved locally; the orchestrator is unreachable (${FLUSH_MESSAGE:-?}). 'taskctl sync' or the next command that reaches it will push it." ;;
	esac
}

# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------

cmd_change() { # cmd_change UUID STATUS EXPECTED REASON
	local uuid=$1 status=$2 what outcome current
	what="$uuid -> $status"
	resolve_remote
	if ! with_lock enqueue_change "$uuid" "$status" "$3" "$4"; then
		case ${JQ_ERROR:-} in
		*"unknown task id"*) die_unknown_id "$uuid" ;;
		*"not a task list"* | *"parse error"*) die_invalid_tasks ;;
		*) die $EXIT_ERROR "could not record $what${JQ_ERROR:+: $JQ_ERROR}" ;;
		esac
	fi
	flush_queue
	outcome=$(entry_outcome "$ENTRY_ID")
	case $outcome in
	pushed)
		echo "[OK] $what"
		;;
	queued)
		queued_warning "$what"
		if [ "$FLUSH_STOP" = auth ]; then exit $EXIT_ERROR; fi
		;;
	rejected)
		current=$(jq -r --arg id "$uuid" '.tasks[] | select(.uuid == $id) | .status // "unknown"' "$TASKS_FILE")
		local why
		why=$(rejection_text "$ENTRY_ID")
		case $why in
		"HTTP 409"*) die $EXIT_CONFLICT "$what refused: the task is $current on the orchestrator ($why)" ;;
		*) die $EXIT_ERROR "$what rejected by the orchestrator: $why" ;;
		esac
		;;
	esac
}

cmd_sync() {
	local remaining
	resolve_remote
	if [ ! -s "$QUEUE_FILE" ]; then
		echo "[SYNC] nothing queued"
		return $EXIT_OK
	fi
	flush_queue
	remaining=$(with_lock queue_snapshot | grep -c . || true)
	echo "[SYNC] pushed=$FLUSH_PUSHED conflicts=$FLUSH_CONFLICTS rejected=$FLUSH_REJECTED queued=$remaining"
	if [ "$FLUSH_CONFLICTS" -gt 0 ] || [ "$FLUSH_REJECTED" -gt 0 ]; then
		err "refused changes are kept in $REJECTED_FILE"
	fi
	case $FLUSH_STOP in
	auth) die $EXIT_ERROR "the orchestrator refused the token: $FLUSH_MESSAGE" ;;
	no_url) err "no orchestrator URL (set MISSION_CONTROL_URL or re-run factory_init.py)" ;;
	busy) err "another taskctl is pushing; try again later" ;;
	unreachable) err "stopped: ${FLUSH_MESSAGE:-orchestrator unreachable}" ;;
	esac
	[ "$FLUSH_REJECTED" -gt 0 ] && return $EXIT_ERROR
	[ "$FLUSH_CONFLICTS" -gt 0 ] && return $EXIT_CONFLICT
	[ "$remaining" -gt 0 ] && return $EXIT_NONE
	return $EXIT_OK
}

cmd_help() {
	local uuid=${1:-} question="" error="" agent=${MISSION_CONTROL_AGENT:-${USER:-agent}} raw=0 body
	[ -n "$uuid" ] || die $EXIT_USAGE "usage: taskctl help <id> [<question>] [--error TEXT] [--agent NAME] [--json]"
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--error)
			[ $# -ge 2 ] || die $EXIT_USAGE "--error needs a value"
			error=$2
			shift 2
			;;
		--error=*) error=${1#--error=}; shift ;;
		--agent)
			[ $# -ge 2 ] || die $EXIT_USAGE "--agent needs a value"
			agent=$2
			shift 2
			;;
		--agent=*) agent=${1#--agent=}; shift ;;
		--json) raw=1; shift ;;
		--) shift; question="${question:+$question }$*"; break ;;
		-*) die $EXIT_USAGE "unknown option for help: $1" ;;
		*) question="${question:+$question }$1"; shift ;;
		esac
	done
	[ -n "$question" ] || [ -n "$error" ] || die $EXIT_USAGE "help needs a question or --error TEXT"
	load_task "$uuid"
	resolve_remote
	[ -n "$BASE_URL" ] || die $EXIT_ERROR "no orchestrator URL (set MISSION_CONTROL_URL or re-run factory_init.py)"
	flush_queue # the orchestrator is about to be reached anyway; failures here are not fatal
	body=$(jq -cn --arg a "$agent" --arg q "$question" --arg e "$error" \
		'{agent_name: $a} + (if $q != "" then {question: $q} else {} end)
		 + (if $e != "" then {error: $e} else {} end)')
	local help_timeout=$TIMEOUT
	awk "BEGIN{exit !($TIMEOUT < 60)}" && help_timeout=60 # docs search and a model can be slow
	http POST "/api/task/$uuid/help" "$body" "$help_timeout"
	[ "${HTTP_CODE:0:1}" = 2 ] || die $EXIT_ERROR "help for $uuid failed: $(http_error_text)"
	if [ "$raw" = 1 ]; then
		printf '%s\n' "$HTTP_BODY"
		return 0
	fi
	jq -r '
		"Task \(.uuid // "?")" + (if .degraded then " (degraded answer: docs search unavailable)" else "" end),
		"",
		"Instruction:", "  \(.original_instruction // "-")",
		"",
		"Guidance:", (.ai_guidance // "-" | split("\n") | map("  " + .) | join("\n")),
		"",
		"Summary: \(.summary // "-")",
		(if (.sources // []) | length > 0 then
			"", "Sources:", (.sources[] | "  - \(.title // "untitled") <\(.url // "")>")
		else empty end)' <<<"$HTTP_BODY" 2>/dev/null || printf '%s\n' "$HTTP_BODY"
}

main() {
	[ $# -gt 0 ] || {
		usage >&2
		exit $EXIT_USAGE
	}
	case $1 in
	-h | --help)
		usage
		exit $EXIT_OK
		;;
	esac
	require_tools jq flock
	local cmd=$1
	shift
	case $cmd in
	list)
		[ $# -le 1 ] || die $EXIT_USAGE "usage: taskctl list [STATUS]"
		if [ $# -eq 1 ] && [[ " $STATUSES " != *" $1 "* ]]; then
			die $EXIT_USAGE "unknown status '$1' (one of: $STATUSES)"
		fi
		load_tasks
		jq -r --arg st "${1:-}" 'if (.tasks | type) != "array" then error("not a task list") else
			.tasks[] | select($st == "" or (.status // "pending") == $st)
			| [.uuid, .file_path, (.status // "pending")] | @tsv end' "$TASKS_FILE" 2>/dev/null ||
			die_invalid_tasks
		;;
	get | status | show)
		[ $# -eq 1 ] || die $EXIT_USAGE "usage: taskctl $cmd <id>"
		check_id_form "$1"
		load_tasks
		case $cmd in
		get) task_query "$1" '.instruction // ""' ;;
		status) task_query "$1" '.status // "pending"' ;;
		show) task_query "$1" '.' ;;
		esac
		;;
	next)
		[ $# -eq 0 ] || die $EXIT_USAGE "usage: taskctl next"
		load_tasks
		local id
		id=$(jq -r 'if (.tasks | type) != "array" then error("not a task list") else
			first(.tasks[] | select((.status // "pending") == "pending") | .uuid) // empty end' \
			"$TASKS_FILE" 2>/dev/null) || die_invalid_tasks
		[ -n "$id" ] || die $EXIT_NONE "no pending task"
		echo "$id"
		;;
	queue)
		[ $# -eq 0 ] || die $EXIT_USAGE "usage: taskctl queue"
		load_tasks
		queue_snapshot | jq -r '[.id, .uuid, .status, .queued_at] | @tsv'
		;;
	start | complete | block)
		require_tools curl
		case $cmd in
		block)
			[ $# -ge 2 ] || die $EXIT_USAGE "usage: taskctl block <id> <reason>"
			local uuid=$1
			shift
			[ -n "$*" ] || die $EXIT_USAGE "block needs a reason"
			check_id_form "$uuid"
			load_tasks
			cmd_change "$uuid" blocked "" "$*"
			;;
		*)
			[ $# -eq 1 ] || die $EXIT_USAGE "usage: taskctl $cmd <id>"
			check_id_form "$1"
			load_tasks
			if [ "$cmd" = start ]; then
				# Compare-and-set: of two agents claiming one task, only one wins.
				cmd_change "$1" in_progress pending ""
			else
				cmd_change "$1" complete "" ""
			fi
			;;
		esac
		;;
	sync)
		[ $# -eq 0 ] || die $EXIT_USAGE "usage: taskctl sync"
		require_tools curl
		load_tasks
		cmd_sync
		exit $?
		;;
	help)
		require_tools curl
		cmd_help "$@"
		;;
	*)
		err "unknown command '$cmd'"
		usage >&2
		exit $EXIT_USAGE
		;;
	esac
}

main "$@"
