# shards shell integration for bash and zsh: `shards cd NAME` and
# `shards create NAME --cd` change this shell's directory; every other
# command goes to the shards program unchanged. Load it from ~/.bashrc
# (or ~/.zshrc) with: eval "$(shards init bash)"
shards() {
  if [ "${1-}" = cd ]; then
    __shards_cd "$@"
    return
  fi
  if [ "${1-}" = create ]; then
    local __shards_arg
    for __shards_arg in "$@"; do
      case "$__shards_arg" in
        --) break ;;
        --cd)
          __shards_cd "$@"
          return
          ;;
      esac
    done
  fi
  command shards "$@"
}

# Runs shards with the function's marker, then changes to the absolute path
# it printed; anything else it printed (--help) is shown as it is.
__shards_cd() {
  local __shards_dir
  __shards_dir="$(SHARDS_SHELL_FUNCTION=1 command shards "$@")" || return
  case "$__shards_dir" in
    /*) builtin cd -- "$__shards_dir" ;;
    *) [ -z "$__shards_dir" ] || printf '%s\n' "$__shards_dir" ;;
  esac
}
