# shellcheck shell=bash disable=SC2034
# The pipeline's stages in order (as `personas run` runs them, src/pipeline/stages.cpp).
# slurm/submit.sh chains them; slurm/stage.sbatch accepts them. Keep in step
# with the stage graph when a stage is added.
PERSONAS_STAGES=(prepare distill model embed cluster train eval report)
