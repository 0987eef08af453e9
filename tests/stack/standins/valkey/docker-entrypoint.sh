#!/bin/sh
# The official valkey image's entrypoint contract: options alone mean `valkey-server <options>`; started as root,
# the server drops to the `valkey` user; anything else runs as given.
set -e
case "$1" in
  -*|*.conf) set -- valkey-server "$@" ;;
esac
if [ "$1" = valkey-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user valkey -exec chown valkey '{}' +
  exec setpriv --reuid=valkey --regid=valkey --clear-groups -- "$0" "$@"
fi
umask 0077
exec "$@"
