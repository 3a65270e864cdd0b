#!/usr/bin/env bash
# qemu-compare.sh - run the guest programs of test/guests on QEMU and on
# cyclevisor and compare their console output and exit codes byte for byte.
#
# usage: scripts/qemu-compare.sh [options] [program...]
#   (no program names = every program listed in test/guests/programs.tsv)
#
#   --qemu-only        run only QEMU and check it against the committed
#                      expectations (test/guests/expected/<name>.out and the
#                      exit code in programs.tsv). Needs no cyclevisor.
#   --update-expected  run QEMU and rewrite test/guests/expected/<name>.out
#                      (programs QEMU cannot run are left alone).
#   -k, --keep         keep the captured outputs (printed at the end).
#
# environment:
#   QEMU               QEMU binary            (default qemu-system-riscv64)
#   CYCLEVISOR         command that runs an ELF; the ELF path is appended
#                      (default "node bin/cyclevisor.js run")
#   QEMU_TIMEOUT       seconds per QEMU run        (default 60)
#   CYCLEVISOR_TIMEOUT seconds per cyclevisor run  (default 600)
#
# Machines: "virt-h" programs (the H extension) run like "virt" with
# -cpu rv64,h=true added. "virt" programs run on
#   qemu-system-riscv64 -M virt -bios none -m 128M -nographic \
#       -monitor none -serial stdio -kernel X.elf
# (console = ns16550a, exit = SiFive test finisher: 0x5555 -> status 0,
# (code << 16) | 0x3333 -> status code); "spike" programs (HTIF) run on
# QEMU's -M spike with the same options (exit through tohost: status =
# tohost >> 1). cyclevisor is run the same way for both: it is expected to
# find the HTIF mailbox through the ELF's tohost/fromhost symbols.
#
# The guests print nothing that legitimately differs between machines (no
# time or counter values), so there is nothing to mask. QEMU adds no text of
# its own to stdout with these options; its diagnostics go to stderr and
# are not compared.
#
# Known QEMU limitation: QEMU before 8.x has no HTIF syscall proxy (it logs
# "pk syscall proxy not supported" and the guest then waits forever), so
# htif-hello cannot run on QEMU 7.2. For such a program the reference is the
# committed expected/<name>.out and the exit code from programs.tsv, and the
# result line says so.
#
# Output: "PASS name" or "DIFF name" (followed by the differences) per
# program, then "N passed, M failed". Exit status 0 only if all passed.

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GUESTS=$ROOT/test/guests
QEMU=${QEMU:-qemu-system-riscv64}
if [ -z "${CYCLEVISOR+set}" ]; then
	CYCLEVISOR="node $ROOT/bin/cyclevisor.js run"
	cv_default=1
else
	cv_default=0
fi
QEMU_TIMEOUT=${QEMU_TIMEOUT:-60}
CYCLEVISOR_TIMEOUT=${CYCLEVISOR_TIMEOUT:-600}

mode=compare
keep=0
names=()
for arg in "$@"; do
	case $arg in
	--qemu-only) mode=qemu-only ;;
	--update-expected) mode=update ;;
	-k|--keep) keep=1 ;;
	-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	-*) echo "unknown option: $arg" >&2; exit 2 ;;
	*) names+=("$arg") ;;
	esac
done

if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "error: $QEMU not found (Debian: apt-get install qemu-system-misc)" >&2
	exit 2
fi
if [ "$mode" = compare ] && [ $cv_default -eq 1 ] &&
   [ ! -f "$ROOT/bin/cyclevisor.js" ]; then
	echo "error: $ROOT/bin/cyclevisor.js not found (build cyclevisor first," \
	     "set CYCLEVISOR, or use --qemu-only)" >&2
	exit 2
fi

# programs.tsv: name <TAB> machine <TAB> exit code <TAB> stdin printf format
declare -A MACHINE EXIT STDIN
order=()
while IFS=$'\t' read -r name machine code input; do
	case $name in ''|'#'*) continue ;; esac
	MACHINE[$name]=$machine
	EXIT[$name]=$code
	STDIN[$name]=$input
	order+=("$name")
done < "$GUESTS/programs.tsv"
[ ${#names[@]} -eq 0 ] && names=("${order[@]}")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qemu-compare.XXXXXX")
if [ $keep -eq 0 ]; then
	trap 'rm -rf "$WORK"' EXIT
fi

# Write the program's stdin to a file: both machines get identical bytes.
make_stdin() {  # name file
	if [ "${STDIN[$1]}" = - ]; then
		: > "$2"
	else
		# the format string comes from our own programs.tsv
		# shellcheck disable=SC2059
		printf "${STDIN[$1]}" > "$2"
	fi
}

# Remove anything QEMU itself might put on stdout. With -nographic,
# -monitor none, -serial stdio and a non-tty stdin/stdout it adds nothing
# today; a terminal-mode escape (line-wrap toggling, ESC [ ? 7 h/l) is the
# only thing ever seen, so strip that, and nothing else.
strip_qemu_noise() {  # in out
	sed -e $'s/\x1b\\[?7[hl]//g' "$1" > "$2"
}

run_qemu() {  # name -> $WORK/name.qemu.{out,err,rc}
	local name=$1 elf=$GUESTS/bin/$1.elf machine
	case ${MACHINE[$name]} in
	virt) machine=virt ;;
	virt-h) machine="virt -cpu rv64,h=true" ;;
	spike) machine=spike ;;
	*) echo "bad machine ${MACHINE[$name]} for $name" >&2; exit 2 ;;
	esac
	# -d unimp makes QEMU say on stderr when the guest uses something it
	# does not implement (see qemu_cannot_run). QEMU runs in the
	# background so that such a run can be stopped at once instead of
	# waiting for the timeout.
	# shellcheck disable=SC2086  # $machine may carry a -cpu option
	"$QEMU" -M $machine -bios none -m 128M \
		-nographic -monitor none -serial stdio -d unimp -kernel "$elf" \
		< "$WORK/$name.in" > "$WORK/$name.qemu.raw" \
		2> "$WORK/$name.qemu.err" &
	local pid=$! start=$SECONDS rc=
	while kill -0 "$pid" 2>/dev/null; do
		if grep -qs "$QEMU_UNSUPPORTED" "$WORK/$name.qemu.err" ||
		   [ $((SECONDS - start)) -ge "$QEMU_TIMEOUT" ]; then
			kill "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			rc=124
			break
		fi
		sleep 0.05
	done
	if [ -z "$rc" ]; then
		wait "$pid"
		rc=$?
	fi
	echo "$rc" > "$WORK/$name.qemu.rc"
	strip_qemu_noise "$WORK/$name.qemu.raw" "$WORK/$name.qemu.out"
}

# QEMU's message when a guest asks for the HTIF syscall proxy it lacks
QEMU_UNSUPPORTED="syscall proxy not supported"

run_cyclevisor() {  # name -> $WORK/name.cv.{out,err,rc}
	local name=$1 elf=$GUESTS/bin/$1.elf
	# $CYCLEVISOR is a command line: split on spaces on purpose
	# shellcheck disable=SC2086
	timeout "$CYCLEVISOR_TIMEOUT" $CYCLEVISOR "$elf" \
		< "$WORK/$name.in" > "$WORK/$name.cv.out" 2> "$WORK/$name.cv.err"
	echo $? > "$WORK/$name.cv.rc"
}

# Does this QEMU lack something the program needs? Then the committed
# expectation is the reference. Prints the reason.
qemu_cannot_run() {  # name
	if [ "$(cat "$WORK/$1.qemu.rc")" = 124 ] &&
	   grep -q "$QEMU_UNSUPPORTED" "$WORK/$1.qemu.err"; then
		echo "this QEMU has no HTIF syscall proxy"
		return 0
	fi
	return 1
}

show_diff() {  # label-a file-a label-b file-b
	diff -u --text --label "$1" --label "$3" "$2" "$4" | head -n 60
}

passed=0
failed=0
for name in "${names[@]}"; do
	if [ -z "${MACHINE[$name]:-}" ]; then
		echo "DIFF $name"
		echo "  unknown program (not in test/guests/programs.tsv)"
		failed=$((failed + 1))
		continue
	fi
	if [ ! -f "$GUESTS/bin/$name.elf" ]; then
		echo "DIFF $name"
		echo "  missing $GUESTS/bin/$name.elf (make -C test/guests)"
		failed=$((failed + 1))
		continue
	fi
	make_stdin "$name" "$WORK/$name.in"
	run_qemu "$name"

	# the reference: what QEMU did, unless QEMU cannot run the program
	ref_out=$WORK/$name.qemu.out
	ref_rc=$(cat "$WORK/$name.qemu.rc")
	ref_label=qemu
	note=""
	if why=$(qemu_cannot_run "$name"); then
		ref_out=$GUESTS/expected/$name.out
		ref_rc=${EXIT[$name]}
		ref_label="expected/$name.out"
		note=" (vs committed expectation: $why)"
	fi

	case $mode in
	update)
		if [ -n "$note" ]; then
			echo "SKIP $name$note"
			continue
		fi
		cp "$WORK/$name.qemu.out" "$GUESTS/expected/$name.out"
		if [ "$ref_rc" != "${EXIT[$name]}" ]; then
			echo "WARN $name: QEMU exit $ref_rc, programs.tsv says ${EXIT[$name]}"
		fi
		echo "updated expected/$name.out (exit $ref_rc)"
		continue
		;;
	qemu-only)
		# QEMU against the committed expectations
		other_out=$GUESTS/expected/$name.out
		other_rc=${EXIT[$name]}
		other_label="expected/$name.out"
		if [ -n "$note" ]; then
			echo "SKIP $name$note"
			continue
		fi
		;;
	compare)
		run_cyclevisor "$name"
		other_out=$WORK/$name.cv.out
		other_rc=$(cat "$WORK/$name.cv.rc")
		other_label=cyclevisor
		;;
	esac

	if [ ! -f "$other_out" ]; then
		echo "DIFF $name"
		echo "  missing $other_out"
		failed=$((failed + 1))
		continue
	fi
	if cmp -s "$ref_out" "$other_out" && [ "$ref_rc" = "$other_rc" ]; then
		echo "PASS $name$note"
		passed=$((passed + 1))
	else
		echo "DIFF $name$note"
		if [ "$ref_rc" != "$other_rc" ]; then
			timed=""
			if [ "$ref_rc" = 124 ] || [ "$other_rc" = 124 ]; then
				timed=" (124 = timed out)"
			fi
			echo "  exit code: $ref_label $ref_rc, $other_label $other_rc$timed"
		fi
		if ! cmp -s "$ref_out" "$other_out"; then
			show_diff "$ref_label" "$ref_out" "$other_label" "$other_out" |
				sed 's/^/  /'
		fi
		for err in "$WORK/$name.qemu.err" "$WORK/$name.cv.err"; do
			if [ -s "$err" ]; then
				echo "  stderr of ${err##*/}:"
				head -n 10 "$err" | sed 's/^/    /'
			fi
		done
		failed=$((failed + 1))
	fi
	# QEMU disagreeing with the designed exit code is worth a word even
	# when both machines agree (e.g. a different QEMU version).
	if [ "$mode" = compare ] && [ -z "$note" ] &&
	   [ "$ref_rc" != "${EXIT[$name]}" ]; then
		echo "  note: QEMU exit $ref_rc, designed exit ${EXIT[$name]}"
	fi
done

[ "$mode" = update ] && exit 0
echo "$passed passed, $failed failed"
[ $keep -eq 1 ] && echo "outputs kept in $WORK"
[ "$failed" -eq 0 ]
