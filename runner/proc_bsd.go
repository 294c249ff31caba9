//go:build unix && !linux

package runner

import "syscall"

// setPdeathsig does nothing where there is no parent-death signal: a child
// outlives a server that dies without cancelling it.
func setPdeathsig(*syscall.SysProcAttr) {}

// setExecPdeathsig does nothing where there is no parent-death signal.
func setExecPdeathsig() error { return nil }

// childGroupLeaders finds nothing without Linux's /proc: only terraform itself
// is signalled when a terraform step is cancelled.
func childGroupLeaders(string) []int { return nil }
