/* cli.c: the airlock command: dispatch to the subcommands.  Each subcommand
 * lives in its own cli_*.c; one that is not built into this binary is
 * reported, not crashed on. */
#include <stdio.h>
#include <string.h>

#include "al.h"
#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} cmds[] = {
    {"run", al_cli_run,
     "run [--policy F] [--rules P] [--audit F] [--weights M] [--egress LIST] [--monitor] "
     "[--fail-open] -- CMD [ARGS]"},
    {"scan", al_cli_scan,
     "scan [--as prompt|completion] [--policy FILE] [--rules PATH] [--jobs N] [FILE]"},
    {"check-rules", al_cli_check_rules, "check-rules [FILE|DIR...]   (default: the rules in use)"},
    {"train", al_cli_train,
     "train --data FILE.jsonl... [--out FILE.model] [--seed N] [--cv K] [--loso] ...  "
     "(airlock train --help)"},
    {"verify", al_cli_verify, "verify --manifest M FILE...  |  verify --print FILE..."},
};

static int usage(FILE *f)
{
    fprintf(f, "usage: airlock COMMAND [ARGS]   (airlock --help | --version)\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  airlock %s\n", cmds[i].help);
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
        return usage(stdout);
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("airlock %s\n", AL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0) continue;
        if (!cmds[i].fn) {
            fprintf(stderr, "airlock: '%s' is not built into this binary\n", argv[1]);
            return 2;
        }
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "airlock: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
