/*
 * ctl: `kalshi-gateway session start|status|reset|halt|end [...]`, the
 * shell control client of a running gateway.
 */
#ifndef GATEWAY_CTL_H
#define GATEWAY_CTL_H

/* Runs the control client on argv (argv[1] is "session"). Returns the
 * process exit code: 0 success, 1 refused or unreachable, 2 usage. */
int ctl_main(int argc, char **argv);

#endif
