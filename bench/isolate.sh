# Sourced by the bench scripts: `isolate DIR` points HOME, the XDG folders
# and git's config and identity into DIR, so a run reads nothing of the
# user's own setup, and makes DIR/home. SHARDS_HOME is each script's own.
# The host's block register goes into DIR too: a run's hundreds of shards
# must not leave entries in the machine's shared register (/var/tmp).
isolate() {
  export HOME=$1/home XDG_CONFIG_HOME=$1/home/.config XDG_DATA_HOME=$1/home/.local/share
  export SHARDS_REGISTER=$1/register
  export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
  export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
  mkdir -p "$HOME"
}
