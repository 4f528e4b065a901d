import type { Command } from 'commander';
import { out, run, usageExitCodes, UsageError } from './common';

interface Node {
  path: string[];
  subcommands: string[];
  options: string[];
}

/** Every command path with its subcommands and long options, read off the registered commander tree. */
function walk(cmd: Command, path: string[] = []): Node[] {
  const here: Node = {
    path,
    subcommands: cmd.commands.map((c) => c.name()),
    options: [...cmd.options.filter((o) => !o.hidden).flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)), '--help'],
  };
  return [here, ...cmd.commands.flatMap((c) => walk(c, [...path, c.name()]))];
}

/**
 * Bash: a case on the command words typed so far picks the words to offer; files are offered after flags that
 * take a file. Generated from the same tree as --help, so a new command or flag completes without editing this.
 */
function bash(program: Command): string {
  const nodes = walk(program);
  const cases = nodes
    .map((n) => `    "${n.path.join(' ')}") words="${[...n.subcommands, ...n.options].join(' ')}" ;;`)
    .join('\n');
  return `# portal-failover bash completion: source <(portal-failover completion bash)
_portal_failover() {
  local cur prev path="" w words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    --token-file|--config|-c|--out) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$w" in -*) ;; *) case " $(_portal_failover_words "\${path# }") " in *" $w "*) path="$path $w" ;; esac ;; esac
  done
  COMPREPLY=( $(compgen -W "$(_portal_failover_words "\${path# }")" -- "$cur") )
}
_portal_failover_words() {
  local words=""
  case "$1" in
${cases}
  esac
  echo "$words"
}
complete -F _portal_failover portal-failover
`;
}

/** Zsh runs the bash function through bashcompinit: one generator, one behaviour in both shells. */
function zsh(program: Command): string {
  return `# portal-failover zsh completion: source <(portal-failover completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash(program)}`;
}

export function registerCompletion(program: Command): void {
  usageExitCodes(program.command('completion'))
    .description('print a shell completion script: source <(portal-failover completion bash)')
    .argument('<shell>', 'bash or zsh')
    .action(
      run(async (shell: string) => {
        if (shell === 'bash') return out(bash(program));
        if (shell === 'zsh') return out(zsh(program));
        throw new UsageError(`<shell>: "${shell}" is not supported; use bash or zsh`);
      }),
    );
}
