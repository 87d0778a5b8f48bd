#!/usr/bin/env bash
# The CUDA path checked and measured on one GPU, each phase time-limited, everything under OUTDIR
# (docs/gpu.md: what it measured on an H200, and how long it took):
#   1. the GPU tests (pytest -m gpu: bf16, TF32, fused AdamW, compile, no host sync between log points);
#   2. the throughput ladder (124M, 20M, 2M at context 1024): trainer vs plain loop, tokens/s, MFU, peak memory;
#   3. isoflop_gpu's two smallest budgets (3e14, 1e14 FLOPs x 6 sizes) with k=$K and then k=1 jobs on the GPU;
#   4. summary.md: the figures above, as measured, with the card's name.
# Offline: where hydra-core, omegaconf, antlr4 & co are missing, they are installed from a folder of wheels
# ($WHEELS, default bench/wheels, made by bench/make_wheels.sh on a machine with network) into a new folder
# under $TMPDIR (else /tmp), not under OUTDIR: a device tool that returns OUTDIR's files may limit their number.
# Data: the committed tiny corpus (no download), or DATA=gutenberg with CACHE=a folder holding a prepared token
# cache (`python -m experiments.data gutenberg --tokenizer bpe --vocab-size 8192 --cache-dir FOLDER` here). Each
# phase has a time limit (LIMIT_TESTS, LIMIT_LADDER, LIMIT_SWEEP seconds); one that hits it is marked in summary.md
# with what it finished, and the script goes on. Each sweep compiles into a fresh inductor/Triton cache, so k=1
# and k=K both start cold, as a first sweep would.
# Choices: PHASES (default "tests ladder sweeps"; "graphs" adds the ladder's 2M and 20M rungs under
# compile_mode=reduce-overhead, i.e. CUDA graphs), MODES (the sweeps' compile modes, default "reduce-overhead",
# conf/hardware/gpu's; "default reduce-overhead" runs each k under both), SIZES (the sweeps' size factors,
# default the experiment's), KS (the sweeps' job counts, default "$K 1").
#
#   bench/gpu_check.sh OUTDIR            # on a GPU machine
#   bench/gpu_check.sh OUTDIR --cpu      # the same pipeline at toy sizes on the CPU (checks the script itself)
set -uo pipefail

if [[ $# -lt 1 || "$1" == -* ]]; then
    echo "usage: bench/gpu_check.sh OUTDIR [--cpu]" >&2
    exit 2
fi
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
CPU=0
[[ "${2:-}" == "--cpu" ]] && CPU=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-$ROOT/bench/wheels}
K=${K:-6}          # jobs on the GPU at once in the first sweep (the second runs one at a time)
DATA=${DATA:-tiny}
PHASES=${PHASES:-tests ladder sweeps}
MODES=${MODES:-reduce-overhead}  # conf/hardware/gpu's; "default reduce-overhead" compares the two
CACHE=${CACHE:-$OUT/cache}
cd "$ROOT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
start=$(date +%s)
phase() { echo; echo "== [$(( $(date +%s) - start )) s] $*"; }

phase "dependencies"
# module:distribution(s) for what the harness and this script import beyond torch and numpy
NEEDS="yaml:PyYAML antlr4:antlr4-python3-runtime omegaconf:omegaconf hydra:hydra-core
hydra_plugins.hydra_joblib_launcher:hydra-joblib-launcher joblib:joblib tqdm:tqdm packaging:packaging
pandas:pandas,python-dateutil,pytz,tzdata,six pytest:pytest,pluggy,iniconfig"
missing=()
for pair in $NEEDS; do
    $PY -c "import ${pair%%:*}" 2>/dev/null || missing+=(${pair#*:})
done
if (( ${#missing[@]} )); then
    dists=$(echo "${missing[@]}" | tr ', ' '\n\n' | sort -u | tr '\n' ' ')
    echo "installing from $WHEELS: $dists"
    if [[ ! -d "$WHEELS" ]]; then
        echo "gpu_check: missing $dists and no wheel folder $WHEELS: run bench/make_wheels.sh there first" >&2
        exit 2
    fi
    pydeps=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_pydeps.XXXXXX")
    $PY -m pip install -q --no-index --no-deps --find-links "$WHEELS" --target "$pydeps" $dists || exit 2
    export PYTHONPATH="$pydeps${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
$PY -c "import torch, hydra, omegaconf; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'available', torch.cuda.is_available()); [print(torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]" \
    | tee "$OUT/environment.txt"
command -v nvidia-smi >/dev/null && nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
if (( ! CPU )) && ! $PY -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu_check: torch sees no CUDA device (use --cpu to check the script on a CPU)" >&2
    exit 2
fi

if (( CPU )); then
    DEVICE=cpu; LADDER=(--sizes 1e5,5e5 --seq-len 128 --batch 4 --steps 12 --threads 1)
    SWEEP=(experiment=debug device=cpu threads=1 budget.flops=1e9 "allocation.size_factor=1,2"); KS=${KS:-"2 1"}
    GRAPHS=(--sizes 1e5 --seq-len 128 --batch 4 --steps 12 --threads 1)
    LIMIT_TESTS=120; LIMIT_LADDER=120; LIMIT_SWEEP=120; LIMIT_GRAPHS=120
else
    DEVICE=cuda
    SWEEP=(experiment=isoflop_gpu "budget.flops='3e14','1e14'"); KS=${KS:-"$K 1"}
    LADDER=(--ladder)
    GRAPHS=(--ladder --sizes 2e7,2e6)
    LIMIT_TESTS=${LIMIT_TESTS:-100}; LIMIT_LADDER=${LIMIT_LADDER:-170}; LIMIT_SWEEP=${LIMIT_SWEEP:-140}
    LIMIT_GRAPHS=${LIMIT_GRAPHS:-120}
fi
[[ -n "${SIZES:-}" ]] && SWEEP+=("allocation.size_factor=$SIZES")
want() { [[ " $PHASES " == *" $1 "* ]]; }
echo "phases: $PHASES (tests ${LIMIT_TESTS}s, ladder ${LIMIT_LADDER}s, graphs ${LIMIT_GRAPHS}s, sweeps" \
     "${LIMIT_SWEEP}s each for k in $KS, compile modes $MODES)"

if want tests; then
    phase "GPU tests (pytest -m gpu; skipped without CUDA)"
    timeout -k 15 "$LIMIT_TESTS" $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py \
        --junitxml="$OUT/tests.xml"
    echo "exit $?" > "$OUT/tests.status"
fi

if want ladder; then
    phase "throughput ladder: trainer vs plain loop on $DEVICE"
    timeout -k 15 "$LIMIT_LADDER" $PY bench/train_throughput.py --device "$DEVICE" --repeats 1 "${LADDER[@]}" \
        --json "$OUT/ladder.json"
    echo "exit $?" > "$OUT/ladder.status"
fi

if want graphs; then
    phase "throughput ladder under compile_mode=reduce-overhead (CUDA graphs) on $DEVICE"
    timeout -k 15 "$LIMIT_GRAPHS" $PY bench/train_throughput.py --device "$DEVICE" --repeats 1 "${GRAPHS[@]}" \
        --compile true --compile-mode reduce-overhead --json "$OUT/ladder_graphs.json"
    echo "exit $?" > "$OUT/ladder_graphs.status"
fi

for mode in $MODES; do
    want sweeps || break
    for k in $KS; do
        name=sweep_k$k; [[ "$mode" == default ]] || name=sweep_k${k}_$mode
        phase "sweep: ${SWEEP[*]} compile_mode=$mode with k=$k jobs on the device"
        t0=$(date +%s)
        compiled="${TMPDIR:-/tmp}/gpu_check_compile_$name"; rm -rf "$compiled"
        rm -rf "${OUT:?}/$name"  # a reused OUTDIR: runs done before would be skipped, and their tokens counted
        TORCHINDUCTOR_CACHE_DIR="$compiled/inductor" TRITON_CACHE_DIR="$compiled/triton" \
        timeout -k 15 "$LIMIT_SWEEP" $PY -m experiments.train -m "${SWEEP[@]}" compile_mode="$mode" data="$DATA" \
            data.cache_dir="$CACHE" results_dir="$OUT/$name" hydra/launcher=joblib hydra.launcher.n_jobs="$k" \
            progress=false
        echo "exit $? wall $(( $(date +%s) - t0 ))" > "$OUT/$name.status"
    done
done

phase "summary"
$PY bench/gpu_summary.py "$OUT"
echo "gpu_check: done in $(( $(date +%s) - start )) s; see $OUT/summary.md"
