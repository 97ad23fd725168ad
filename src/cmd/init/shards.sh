# shards shell integration for bash and zsh: `shards cd NAME` and
# `shards create NAME --cd` change this shell's directory; every other
# command goes to the shards program unchanged. Load it from ~/.bashrc
# (or ~/.zshrc) with: eval "$(shards init bash)"
shards() {
  # The command: the first argument that is no flag (-C takes a value).
  local __shards_cmd= __shards_skip= __shards_arg
  for __shards_arg in "$@"; do
    if [ -n "$__shards_skip" ]; then
      __shards_skip=
      continue
    fi
    case "$__shards_arg" in
      -C) __shards_skip=1 ;;
      -*) ;;
      *)
        __shards_cmd="$__shards_arg"
        break
        ;;
    esac
  done
  case "$__shards_cmd" in
    cd)
      __shards_cd "$@"
      return
      ;;
    create)
      for __shards_arg in "$@"; do
        case "$__shards_arg" in
          --) break ;;
          --cd)
            __shards_cd "$@"
            return
            ;;
        esac
      done
      ;;
  esac
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
