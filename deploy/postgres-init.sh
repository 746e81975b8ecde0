#!/bin/sh
# One database per service (and one for the web edge's read models): no service reads another's tables.
set -eu
for db in onboarding payments escrow disputes notifications web; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "CREATE DATABASE $db"
done
