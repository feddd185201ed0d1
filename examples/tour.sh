#!/usr/bin/env bash
# The README's quick tour, as a script: run it from anywhere after `make demo` (or
# `make install`); it needs curl and jq. It makes its own line in a scratch directory, serves it
# on $PORT (default 8000), walks through the API as two operators, an authority and an observer,
# and stops the server at the end. tests/e2e/test_e2e_tour.py runs it on a fresh server and
# checks that the README shows these very commands (between the `tour` markers).
set -euo pipefail
cd "$(dirname "$0")/.."

# --- tour ---
. .venv/bin/activate                    # `deconfliction` on the PATH (after make demo/install)
TOUR=${TOUR:-$(mktemp -d)}; PORT=${PORT:-8000}; URL=http://127.0.0.1:$PORT

# Parties: each token is printed once (stored only as a hash), so keep it in a variable.
BLUE=$(deconfliction party add blue --role operator --db "$TOUR/line.db")
RED=$(deconfliction party add red --role operator --db "$TOUR/line.db")
MISSION=$(deconfliction party add mission --role authority --db "$TOUR/line.db")
WATCH=$(deconfliction party add watch --role observer --db "$TOUR/line.db")
deconfliction serve --db "$TOUR/line.db" --port "$PORT" 2>"$TOUR/server.log" &
SERVER=$!; trap 'kill $SERVER' EXIT
until curl -sf "$URL/v1/health" >/dev/null; do kill -0 $SERVER; sleep 0.2; done

# Declare an operation: SI units, RFC 3339 UTC times (two hours from now: past the one-hour
# notice period), a footprint is a GeoJSON Polygon or a Circle.
START=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
END=$(date -u -d '+4 hours' +%Y-%m-%dT%H:%M:%SZ)
VOLUME=$(jq -n --arg from "$START" --arg to "$END" '{
  footprint: {type: "Circle", center: [37.16, 36.20], radius_m: 5000},
  altitude_lower_m: 3000, altitude_upper_m: 7000, time_start: $from, time_end: $to}')
OP=$(curl -sS -X POST "$URL/v1/operations" -H "Authorization: Bearer $BLUE" \
  -H 'Content-Type: application/json' -d "{\"volumes\": [$VOLUME], \"priority\": 5,
  \"callsigns\": [\"BLUE 1\"], \"notes\": \"private to blue and observers\"}")
echo "$OP" | jq '{id, owner, priority, state, short_notice, receipt}'
ID=$(echo "$OP" | jq -er .id); OVN=$(echo "$OP" | jq -er .ovn)

# Change an operation: PATCH (a JSON Merge Patch with the current ovn) changes only what it
# names; PUT replaces the whole operation, so it must name every field (400 otherwise).
OP=$(curl -sS -X PATCH "$URL/v1/operations/$ID" -H "Authorization: Bearer $BLUE" \
  -H 'Content-Type: application/merge-patch+json' \
  -d "{\"ovn\": \"$OVN\", \"notes\": \"tanker on station\"}")
echo "$OP" | jq -e '.priority == 5 and .callsigns == ["BLUE 1"] and .notes == "tanker on station"'
OVN=$(echo "$OP" | jq -er .ovn)
curl -sS -X PUT "$URL/v1/operations/$ID" -H "Authorization: Bearer $BLUE" \
  -H 'Content-Type: application/json' -d "{\"ovn\": \"$OVN\", \"volumes\": [$VOLUME]}" |
  jq -e '.status == 400 and ([.errors[].field] | sort) == ["callsigns", "notes", "priority", "state"]'
curl -sS "$URL/v1/operations/$ID" -H "Authorization: Bearer $RED" |   # red: the public view
  jq -e 'has("notes") | not'

# Red asks first (a dry run stores nothing): the same place at priority 1 conflicts, and the
# refusal carries the conflict and suggestions (time shifts, altitude bands) ready to resubmit.
curl -sS -X POST "$URL/v1/operations/check" -H "Authorization: Bearer $RED" \
  -H 'Content-Type: application/json' -d "{\"volumes\": [$VOLUME], \"priority\": 1}" |
  jq -e '.acceptable == false and .refusal.code == "conflict"
         and (.refusal.suggestions | length > 0)'
# At priority 9 red overrides blue, but only once it shows it has seen blue's operation:
# without blue's current ovn in its awareness key it is 409 missing_ovns.
curl -sS -X POST "$URL/v1/operations" -H "Authorization: Bearer $RED" \
  -H 'Content-Type: application/json' -d "{\"volumes\": [$VOLUME], \"priority\": 9}" |
  jq -e '.code == "missing_ovns"'
curl -sS -X POST "$URL/v1/operations" -H "Authorization: Bearer $RED" \
  -H 'Content-Type: application/json' \
  -d "{\"volumes\": [$VOLUME], \"priority\": 9, \"key\": [\"$OVN\"]}" |
  jq -e '.state == "accepted"'
curl -sS "$URL/v1/events" -H "Authorization: Bearer $BLUE" |    # blue is told
  jq -e '[.events[] | select(.kind == "operation.conflict")] | length == 1'

# An authority closes airspace (every operator, or named ones, with exemptions).
ALEPPO=$(jq -n --arg from "$START" --arg to "$END" '{
  footprint: {type: "Circle", center: [37.134, 36.202], radius_m: 15000},
  altitude_lower_m: 0, altitude_upper_m: 18000, time_start: $from, time_end: $to}')
curl -sS -X POST "$URL/v1/constraints" -H "Authorization: Bearer $MISSION" \
  -H 'Content-Type: application/json' \
  -d "{\"kind\": \"no_fly\", \"name\": \"Aleppo\", \"applies_to\": \"all\", \"volumes\": [$ALEPPO]}" |
  jq -e '.state == "active"'

# Tracks: a report of now is accepted; the same one again is ignored, with its reason.
REPORT=$(jq -n --arg time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{aircraft_id: "blue-1",
  time: $time, lat: 36.5, lon: 38.5, altitude_m: 5000, ground_speed_mps: 200, track_deg: 90}')
curl -sS -X POST "$URL/v1/tracks" -H "Authorization: Bearer $BLUE" \
  -H 'Content-Type: application/json' -d "{\"reports\": [$REPORT]}" | jq -e '.accepted == 1'
curl -sS -X POST "$URL/v1/tracks" -H "Authorization: Bearer $BLUE" \
  -H 'Content-Type: application/json' -d "{\"reports\": [$REPORT]}" |
  jq -e '.accepted == 0 and .ignored[0].reason == "duplicate"'

# The hotline: blue calls red; red reads it (a receipt) and replies.
SENT=$(curl -sS -X POST "$URL/v1/messages" -H "Authorization: Bearer $BLUE" \
  -H 'Content-Type: application/json' \
  -d '{"to": "red", "urgency": "routine", "subject": "BLUE 1 at FL200 east of Aleppo"}')
MESSAGE=$(echo "$SENT" | jq -er .id); LEAF=$(echo "$SENT" | jq -er .receipt.leaf_index)
curl -sS "$URL/v1/messages" -H "Authorization: Bearer $RED" | jq -e '.messages[0].id == "'"$MESSAGE"'"'
curl -sS -X POST "$URL/v1/messages/$MESSAGE/replies" -H "Authorization: Bearer $RED" \
  -H 'Content-Type: application/json' -d '{"reply": "will_comply"}' | jq -e '.status == "replied"'

# Every list pages: `limit`, and `next` to pass back as `cursor` (null on the last page).
PAGE=$(curl -sS "$URL/v1/operations?limit=1" -H "Authorization: Bearer $WATCH")
curl -sS "$URL/v1/operations?limit=1&cursor=$(echo "$PAGE" | jq -er .next)" \
  -H "Authorization: Bearer $WATCH" | jq -e '(.operations | length) == 1 and .next == null'

# The evidence ledger: every write's receipt resolves to a signed head within about a second.
until curl -sS "$URL/v1/ledger/receipts/$LEAF" -H "Authorization: Bearer $BLUE" |
  jq -e '.pending == false' >/dev/null; do sleep 0.5; done
curl -sS "$URL/v1/ledger/key" -H "Authorization: Bearer $RED" > "$TOUR/key.json"
curl -sS "$URL/v1/ledger/head" -H "Authorization: Bearer $RED" > "$TOUR/head.json"
deconfliction ledger export --party red --db "$TOUR/line.db" "$TOUR/red.jsonl"   # last 24 h
deconfliction ledger verify "$TOUR/red.jsonl" --head "$TOUR/head.json" --key "$TOUR/key.json"
# --- end of tour ---
