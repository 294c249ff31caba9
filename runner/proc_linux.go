package runner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// setPdeathsig makes the kernel SIGKILL the child when the thread that started
// it ends, as all of a process's threads do when it dies, however it dies.
// Only the child itself is killed: its own children (a run step's background
// commands, terraform's providers) are not, unless they ask for it too.
func setPdeathsig(a *syscall.SysProcAttr) {
	a.Pdeathsig = syscall.SIGKILL
}

// setExecPdeathsig gives the calling thread the parent-death signal SIGKILL,
// so that the program this thread is about to exec dies with the runner. The
// runner starts the shim with that signal, but Linux keeps it per thread and
// gives none to threads created later, while a Go program may call exec from
// any of its threads; exec then keeps the signal of the thread that calls it
// (Linux clears it only for set-user-ID, set-group-ID or capability-raising
// programs). The parent is checked again afterwards, as it may have died in
// between.
func setExecPdeathsig() error {
	ppid := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		return fmt.Errorf("set parent-death signal: %w", errno)
	}
	if os.Getppid() != ppid {
		return errors.New("the process that started the shim has exited")
	}
	return nil
}

// childGroupLeaders returns the children of this process that lead a process
// group of their own and whose working directory is dir: the terraform that
// terraform-exec started for a project, whose process ID terraform-exec keeps
// to itself. Runs in one project directory are serialised, and a run step,
// the only other child started there, never runs at the same time as a
// terraform step of the same run, so dir picks out the one terraform. It reads
// /proc; errors leave a process out.
func childGroupLeaders(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[1] != strconv.Itoa(self) || f[2] != e.Name() {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err != nil || cwd != dir {
			continue
		}
		out = append(out, pid)
	}
	return out
}
