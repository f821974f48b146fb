#!/usr/bin/env bash
# Mutation check of the element-wise derivatives (issue 13, item 4): do the Graph tests catch a wrong
# derivative rule?
#
# It copies the repository's HEAD (git archive; --dirty: the working tree's tracked files instead) to a
# scratch directory under /tmp, builds tests/Graph.Tests once (Debug) and checks that the tests pass
# there. Then, for each mutant in turn, it makes ONE textual change to the copy, rebuilds Graph.Tests
# incrementally, runs the test binary (xunit v3 in-process runner) on the classes that must catch a wrong
# rule — TestOps, TestElementwise, TestEngine, TestChecks, TestMemory (--all-tests: every class) — and
# records the mutant "killed" (the tests failed) or "SURVIVED", then restores the file.
#
# The mutants come from tests/mutation/mutants.py, which reads the copied sources: every derivative
# member (D, Da, Db) of every rule in src/Graph/Ops/Elementwise.fs is negated, scaled by 1.001, has its
# `if` condition dropped, has its inputs swapped, and, where FORMULAS in mutants.py names one, replaced
# by a wrong-but-plausible formula; a new op is mutated without editing either file. Fixed mutants break
# the hand-written paths: Vec.sigmoidVjp, the broadcasting reduction and loops of Pointwise.fs, the
# one-element kernels. `--list` prints them all without building anything.
#
# Builds pass -p:TreatWarningsAsErrors=false (a mutant may leave an argument unused, warning 1182).
# A mutant whose build fails, whose assembly comes out bitwise unchanged (Deterministic builds), or
# whose text is no longer in the source (STALE: update mutants.py) is an ERROR, never a kill.
#
# Run time: one mutant is an incremental build plus a test run, 6-17 s on 2 shared cores, so the full
# set (99 mutants at f1e4e36) took 17 min and --quick (its 24 negate mutants) 3 min. Every
# build and test run has a timeout (a test run that hangs counts as killed), and the whole run stops
# starting mutants after --budget minutes (default 30); those left are reported NOT RUN.
#
# Output: one line per mutant, the survivors and errors, and `mutation score: K/N killed`.
# Exit code: 0 only if every selected mutant was killed; 1 if any survived or was not run; 2 on an
# error (build failure, stale mutant, tests failing before any mutation, bad usage).
#
# Usage: tests/mutation/run.sh [--quick] [--only REGEX] [--all-tests] [--budget MIN] [--dirty] [--keep] [--list]
#   --quick       only the negate mutants (rule results and one-element kernel partials)
#   --only REGEX  only the mutants whose description matches REGEX (grep -E), e.g. --only '^sigmoid '
#   --all-tests   run every test class of Graph.Tests, not only the five above
#   --budget MIN  start no mutant after MIN minutes (default 30)
#   --dirty       mutate the working tree's tracked files (uncommitted edits included), not HEAD
#   --keep        keep the scratch directory (build and test logs of every mutant in .mutation/logs)
#   --list        print the mutants and exit
# Needs: git, python3, dotnet (the SDK of global.json), timeout, sha256sum. Not part of .ci/run (too long).
set -euo pipefail

quick=0 keep=0 all_tests=0 list=0 dirty=0 only='' budget=30
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --all-tests) all_tests=1 ;;
    --list) list=1 ;;
    --dirty) dirty=1 ;;
    --only) only="${2:?--only needs a regex}"; shift ;;
    --budget) budget="${2:?--budget needs minutes}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$budget" =~ ^[0-9]+$ ]] || { echo "--budget takes whole minutes" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
mutants_py="$here/mutants.py"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

scratch=$(mktemp -d /tmp/adjoint-mutation.XXXXXX)
cleanup() { if [ "$keep" -eq 1 ]; then echo "scratch kept: $scratch"; else rm -rf "$scratch"; fi; }
trap cleanup EXIT

rev=HEAD
if [ "$dirty" -eq 1 ]; then rev=$(git -C "$repo" stash create); rev=${rev:-HEAD}; fi
commit=$(git -C "$repo" rev-parse --short HEAD)
git -C "$repo" archive "$rev" | tar -x -C "$scratch"
state="$scratch/.mutation"
mkdir -p "$state/logs" "$state/pristine"

# The mutants: number, kind, file, description (tab-separated).
mapfile -t rows < <(python3 "$mutants_py" list "$scratch")
if [ "$list" -eq 1 ]; then printf '%s\n' "${rows[@]}" | awk -F'\t' '{printf "%3d  %-8s  %s\n", $1, $2, $4}'; exit 0; fi

selected=()
for row in "${rows[@]}"; do
  IFS=$'\t' read -r _ kind _ description <<<"$row"
  if [ "$quick" -eq 1 ] && [ "$kind" != negate ] && [ "$kind" != STALE ]; then continue; fi
  if [ -n "$only" ] && ! grep -qE -- "$only" <<<"$description"; then continue; fi
  selected+=("$row")
done
total=${#selected[@]}
[ "$total" -gt 0 ] || { echo "no mutant selected" >&2; exit 2; }

tests_dir=tests/Graph.Tests
test_bin="$tests_dir/bin/Debug/net10.0/Adjoint.Graph.Tests"
graph_dll="$tests_dir/bin/Debug/net10.0/Adjoint.Graph.dll"
classes=()
if [ "$all_tests" -eq 0 ]; then
  for c in TestOps TestElementwise TestEngine TestChecks TestMemory; do classes+=(-class "Adjoint.Tests.$c"); done
fi

build() { (cd "$scratch" && timeout 900 dotnet build "$tests_dir" -nologo -v q -c Debug -p:TreatWarningsAsErrors=false) >"$1" 2>&1; }
run_tests() { (cd "$scratch" && timeout 300 "$test_bin" "${classes[@]}" -noColor) >"$1" 2>&1; }
# "TestOps 6, TestEngine 1" from the "    Adjoint.Tests.TestOps.<test> [FAIL]" lines of a test log.
failed_classes() {
  { grep '\[FAIL\]' "$1" || true; } | sed -n 's/^ *Adjoint\.Tests\.\([A-Za-z0-9_]*\)\..*/\1/p' | sort | uniq -c \
    | awk '{printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1}'
}

start=$(date +%s)
echo "mutation check of $commit$([ "$dirty" -eq 1 ] && echo ' (working tree)') in $scratch: $total mutants, tests: $([ "$all_tests" -eq 1 ] && echo 'all of Graph.Tests' || echo 'TestOps TestElementwise TestEngine TestChecks TestMemory'), budget ${budget} min"
echo "warm-up build ..."
if ! build "$state/logs/warmup.build.log"; then tail -30 "$state/logs/warmup.build.log"; echo "the unmutated copy does not build"; exit 2; fi
if ! run_tests "$state/logs/warmup.test.log"; then
  tail -30 "$state/logs/warmup.test.log"; echo "the tests fail before any mutation: nothing to measure"; exit 2
fi
pristine_hash=$(sha256sum "$scratch/$graph_dll" | cut -d' ' -f1)
echo "warm-up done in $(( $(date +%s) - start )) s; the tests pass unmutated"

killed=0 n=0
survivors=() errors=() not_run=()
for row in "${selected[@]}"; do
  IFS=$'\t' read -r id kind file description <<<"$row"
  n=$((n + 1))
  tag=$(printf '%3d/%d' "$n" "$total")
  if [ "$kind" = STALE ]; then
    echo "$tag  ERROR     STALE: $description"; errors+=("STALE: $description"); continue
  fi
  if [ $(( $(date +%s) - start )) -ge $(( budget * 60 )) ]; then
    echo "$tag  NOT RUN   $description (budget of $budget min spent)"; not_run+=("$description"); continue
  fi
  t0=$(date +%s)
  [ -f "$state/pristine/$file" ] || { mkdir -p "$(dirname "$state/pristine/$file")"; cp "$scratch/$file" "$state/pristine/$file"; }
  python3 "$mutants_py" apply "$scratch" "$id"
  log="$state/logs/$id"
  verdict='' detail=''
  if ! build "$log.build.log"; then
    verdict=ERROR detail="the mutant does not build (log: $log.build.log)"
  elif [ "$(sha256sum "$scratch/$graph_dll" | cut -d' ' -f1)" = "$pristine_hash" ]; then
    verdict=ERROR detail="Adjoint.Graph.dll came out unchanged (the mutant was not built, or is a no-op)"
  else
    set +e; run_tests "$log.test.log"; rc=$?; set -e
    if [ "$rc" -eq 0 ]; then verdict=SURVIVED
    elif [ "$rc" -eq 124 ]; then verdict=killed detail="test run timed out"
    else
      failures=$(grep -c '\[FAIL\]' "$log.test.log" || true)
      verdict=killed detail="$failures failed: $(failed_classes "$log.test.log")"
      [ "${failures:-0}" -gt 0 ] || detail="no [FAIL] line; test runner exit code $rc"
    fi
  fi
  cp "$state/pristine/$file" "$scratch/$file"
  seconds=$(( $(date +%s) - t0 ))
  case "$verdict" in
    killed) killed=$((killed + 1)); printf '%s  killed    %s  (%s; %d s)\n' "$tag" "$description" "$detail" "$seconds" ;;
    SURVIVED) survivors+=("$description"); printf '%s  SURVIVED  %s  (%d s)\n' "$tag" "$description" "$seconds" ;;
    ERROR) errors+=("$description: $detail"); printf '%s  ERROR     %s  (%s)\n' "$tag" "$description" "$detail" ;;
  esac
done

elapsed=$(( $(date +%s) - start ))
echo
echo "ran in $((elapsed / 60)) min $((elapsed % 60)) s (commit $commit, $(date -u +%Y-%m-%d))"
if [ ${#survivors[@]} -gt 0 ]; then echo "survivors:"; printf '  %s\n' "${survivors[@]}"; fi
if [ ${#not_run[@]} -gt 0 ]; then echo "not run (budget):"; printf '  %s\n' "${not_run[@]}"; fi
if [ ${#errors[@]} -gt 0 ]; then echo "errors:"; printf '  %s\n' "${errors[@]}"; fi
echo "mutation score: $killed/$total killed"
if [ ${#errors[@]} -gt 0 ]; then exit 2; fi
[ "$killed" -eq "$total" ]
