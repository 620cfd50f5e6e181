/* cli.h: subcommands of the airlock command.  Each takes argc/argv starting
 * at its own name and returns the process exit status.  Declared weak so a
 * subcommand whose file is absent is reported by the dispatcher. */
#ifndef AL_CLI_H
#define AL_CLI_H

__attribute__((weak)) int al_cli_run(int argc, char **argv);         /* cli_run.c */
__attribute__((weak)) int al_cli_scan(int argc, char **argv);        /* cli_scan.c */
__attribute__((weak)) int al_cli_check_rules(int argc, char **argv); /* cli_scan.c */
__attribute__((weak)) int al_cli_train(int argc, char **argv);       /* cli_train.c */
__attribute__((weak)) int al_cli_verify(int argc, char **argv);      /* cli_verify.c */

#endif
