#!/bin/sh
# One database per service: no service reads another's tables.
set -eu
for db in onboarding payments escrow disputes notifications; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "CREATE DATABASE $db"
done
