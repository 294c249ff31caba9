package main

import "golang.org/x/sys/unix"

// hideEnvironment makes this process non-dumpable, so that a child running as
// the same user (terraform, a run step) cannot read the server's original
// environment, where its secrets are, from /proc/PPID/environ: the runner
// strips them from the children's own environment, but the kernel keeps the
// parent's. A process with CAP_SYS_PTRACE (root) can still read it: run Atoll
// as an unprivileged user, as the Dockerfile does.
func hideEnvironment() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
