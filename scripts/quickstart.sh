#!/bin/sh
# The quickstart of each study, in the order `make quickstart` runs them; the image's `review` reruns them too.
# usage: scripts/quickstart.sh [margin_repair] [irer] [avalanche_llm]   (no study: all three)
# Runs land in $RUNLAB_RUNS_ROOT (default ./runs); avalanche_llm writes its random GPT-2 to ./models.
# Expects the suite's python and runlab first on PATH.
set -eu
suite=$(cd "$(dirname "$0")/.." && pwd)

margin_repair() {
    python -m margin_repair.quickstart --manifest "$suite/jobs/margin_repair.yaml"
}

irer() {
    runlab submit "$suite/jobs/irer.yaml" --config "$suite/configs/irer/quickstart.yaml"
}

avalanche_llm() {
    python -m avalanche_llm phase0 --config "$suite/configs/avalanche_llm/quickstart.yaml" --device cpu --dtype fp32
    runlab submit "$suite/jobs/avalanche_llm.yaml" --config "$suite/configs/avalanche_llm/quickstart.yaml" --stage S05
    python -m avalanche_llm.model.random_model models/random_gpt2
    runlab submit "$suite/jobs/avalanche_llm.yaml" --config "$suite/configs/avalanche_llm/quickstart_causal.yaml"
}

[ "$#" -gt 0 ] || set -- margin_repair irer avalanche_llm
for study in "$@"; do
    case "$study" in
        margin_repair | irer | avalanche_llm) "$study" ;;
        *) echo "quickstart: error: no study '$study'; choose from margin_repair, irer, avalanche_llm" >&2; exit 2 ;;
    esac
done
