#!/bin/sh
# One PostgreSQL role and one database per service, so no service can read
# another's data: no service reads another's store, and the server enforces it.
#
# Run by the postgres image on first start only (an empty data directory),
# from /docker-entrypoint-initdb.d. Used by compose.yaml and by the local
# Kubernetes overlay. Contract, from the environment:
#   EMPORIUM_DATABASES        comma-separated service names, e.g.
#                             identity,catalog,inventory,cart,payments,notifications,orders
#                             (shipping is on MariaDB)
#   <SERVICE>_DB_PASSWORD     that service's password (IDENTITY_DB_PASSWORD, ...)
# Passwords go into database URLs unescaped: use URL-safe ones
# (`openssl rand -hex 24`).
#
# A service added after the first start needs its role and database created
# by hand (the same three statements) or the volume recreated.
#
# The body runs in a subshell: the entrypoint sources non-executable scripts,
# and `set -eu` must not leak into it.
(
  set -eu

  for db in $(echo "${EMPORIUM_DATABASES:?set EMPORIUM_DATABASES}" | tr ',' ' '); do
    case "$db" in
      [a-z]*) ;;
      *) echo "init-databases: '$db' is not a service name" >&2; exit 1 ;;
    esac
    case "$db" in
      *[!a-z0-9_]*) echo "init-databases: '$db' is not a service name" >&2; exit 1 ;;
    esac
    var="$(echo "$db" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    password="$(printenv "$var")" || { echo "init-databases: $var is not set" >&2; exit 1; }
    [ -n "$password" ] || { echo "init-databases: $var is empty" >&2; exit 1; }
    echo "init-databases: role and database $db"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      -v db="$db" -v password="$password" <<'SQL'
CREATE ROLE :"db" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"db";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
  done
)
