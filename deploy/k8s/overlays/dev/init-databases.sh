#!/bin/bash
# Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d/):
# one role and one database per service, each service owning only its own database.
# Passwords come from AUTH_DB_PASSWORD and REFERRAL_DB_PASSWORD (see docker-compose.yml).
set -euo pipefail

create_service_database() {
    local name="$1" password="$2"
    # psql variables quote the values (:"name" as an identifier, :'password' as a literal).
    psql --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=name="$name" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
}

create_service_database auth "${AUTH_DB_PASSWORD:?AUTH_DB_PASSWORD must be set}"
create_service_database referral "${REFERRAL_DB_PASSWORD:?REFERRAL_DB_PASSWORD must be set}"
