#!/usr/bin/env bash
# Checks deploy/monitoring: the alert rules load (promtool check rules), each
# alert fires and stays quiet where its unit test says (promtool test rules),
# the dashboard is JSON, and every metric the rules and the dashboard query
# is one wxtokend exports (the names registered in server/metrics/).
# Needs promtool (Debian's prometheus package).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=deploy/monitoring
command -v promtool >/dev/null ||
  { echo "check-monitoring: promtool is not installed (apt-get install prometheus)" >&2; exit 1; }
promtool check rules "$dir/rules.yaml"
(cd "$dir" && promtool test rules rules_test.yaml)
python3 -m json.tool "$dir/dashboard.json" >/dev/null

exported=$(grep -ohE '"wxtoken_[a-z_]+"' server/metrics/*.cc | tr -d '"' | sort -u)
queried=$(grep -ohE 'wxtoken_[a-z_]+' "$dir/rules.yaml" "$dir/dashboard.json" |
  sed -E 's/_(bucket|sum|count)$//' | sort -u)
unknown=$(comm -13 <(echo "$exported") <(echo "$queried"))
if [[ -n "$unknown" ]]; then
  echo "check-monitoring: queried but not exported: $unknown" >&2
  exit 1
fi
echo "check-monitoring: $(echo "$queried" | wc -l) metrics queried, all exported"
