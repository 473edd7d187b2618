#!/usr/bin/env bash
# Regenerates docs/config.md from the configuration schema.
# Usage: tools/update_config_doc.sh [path/to/personas]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$here/build/personas}"
"$bin" config --markdown > "$here/docs/config.md"
echo "wrote docs/config.md"
