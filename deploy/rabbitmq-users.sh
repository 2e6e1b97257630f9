#!/bin/sh
# One RabbitMQ user per service that uses the broker, for namespace "emporium".
#
#   SECRETS_DIR=/run/secrets deploy/rabbitmq-users.sh [VHOST [SERVICE...]]
#
# VHOST defaults to "/", the services to every one that uses the broker. Each
# password is read from $SECRETS_DIR/<service>-rabbitmq-password; USER_PREFIX
# (empty by default) is put before each user name. Run where rabbitmqctl reaches
# the broker; running it again sets the same passwords and permissions.
#
# What each user may do (configure, write, read; see deploy/README.md):
# - a service that publishes or consumes: the namespace's exchanges and queues,
#   by name (the vhost should hold nothing else). Unlike NATS, RabbitMQ cannot
#   confine it to its own queues: a publisher declares and binds the queues of
#   its events' consumers, so none misses the first message
#   (chassis/messaging/_rabbit.py), and RabbitMQ allows declaring a queue with a
#   dead-letter exchange only to a user that may also read it;
# - the storefront only listens: the listen exchange and its own listener
#   queues, nothing it could publish to or take another service's messages from.
# tests/integration/test_rabbitmq_permissions.py runs this file.
set -eu

vhost="${1:-/}"
[ "$#" -gt 0 ] && shift
services="${*:-catalog inventory cart payments shipping notifications orders recommendations storefront}"
secrets="${SECRETS_DIR:-/run/secrets}"

listen='\.listen(\.[0-9a-f]{32})?'
shared="\\.unrouted|\\.dlx|\\.dlq|${listen}"
queues='\.[a-z]+\.[A-Za-z]+(\.retry\.[0-9]+)?'

for svc in $services; do
  user="${USER_PREFIX:-}$svc"
  password="$(cat "$secrets/$svc-rabbitmq-password")"
  rabbitmqctl add_user "$user" "$password" >/dev/null 2>&1 \
    || rabbitmqctl change_password "$user" "$password" >/dev/null
  if [ "$svc" = storefront ]; then
    rabbitmqctl set_permissions -p "$vhost" "$user" \
      "^emporium${listen}\$" "^emporium\\.listen\\.[0-9a-f]{32}\$" "^emporium${listen}\$" >/dev/null
  else
    rabbitmqctl set_permissions -p "$vhost" "$user" \
      "^emporium(${shared}|${queues})?\$" \
      "^(emporium(${shared}|${queues})?|amq\\.default)\$" \
      "^emporium(${shared}|${queues})?\$" >/dev/null
  fi
done
