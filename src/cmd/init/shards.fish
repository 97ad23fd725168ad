# shards shell integration for fish: `shards cd NAME` and
# `shards create NAME --cd` change this shell's directory; every other
# command goes to the shards program unchanged. Load it from
# ~/.config/fish/config.fish with: shards init fish | source
function shards --wraps shards --description 'shards, with `shards cd` and `shards create --cd`'
    # The command: the first argument that is no flag (-C takes a value).
    set -l cmd
    set -l skip 0
    for arg in $argv
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $arg
            case -C
                set skip 1
            case '-*'
                continue
            case '*'
                set cmd $arg
                break
        end
    end
    switch "$cmd"
        case cd
            __shards_cd $argv
            return
        case create
            for arg in $argv
                switch $arg
                    case --
                        break
                    case --cd
                        __shards_cd $argv
                        return
                end
            end
    end
    command shards $argv
end

# Runs shards with the function's marker, then changes to the absolute path
# it printed; anything else it printed (--help) is shown as it is.
function __shards_cd
    # `env` runs the program, not this function; fish splits the output
    # on newlines only, so a path with spaces stays one item.
    set -l dir (env SHARDS_SHELL_FUNCTION=1 shards $argv)
    set -l code $status
    test $code -eq 0; or return $code
    if test (count $dir) -eq 1; and string match -q -- '/*' $dir[1]
        builtin cd -- $dir[1]
    else if test (count $dir) -gt 0
        printf '%s\n' $dir
    end
end
