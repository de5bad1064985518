/* The openace command line: the engine and the offline commands. */
#ifndef OA_HOST_CLI_H
#define OA_HOST_CLI_H

/* Parses argv and runs the chosen command. Returns the process exit code:
 * 0 success, 1 a refusal or failure (with a sentence on stderr), 2 a usage
 * error. */
int oa_cli_main(int argc, char **argv);

#endif
