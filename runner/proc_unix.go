//go:build unix

package runner

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// setProcessGroup puts cmd in a process group of its own, so that signals
// reach its children too, and ties it to the thread that starts it (see
// setPdeathsig).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(cmd.SysProcAttr)
}

// interruptGroup sends SIGINT to the process group p leads.
func interruptGroup(p *os.Process) error {
	err := syscall.Kill(-p.Pid, syscall.SIGINT)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// killGroup sends SIGKILL to process group pgid.
func killGroup(pgid int) error {
	return syscall.Kill(-pgid, syscall.SIGKILL)
}

// groupExists reports whether process group pgid has a member (a zombie
// counts until it is reaped).
func groupExists(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// execProcess replaces this process with bin, keeping its pid, signals and
// exit code, as the terraform shim needs, and, on Linux, the parent-death
// signal the runner started it with (see setExecPdeathsig).
func execProcess(bin string, argv, env []string) error {
	// Exec from this thread and no other: the one setExecPdeathsig prepares.
	// It is never unlocked; exec replaces the process, or fails and the shim
	// exits.
	runtime.LockOSThread()
	if err := setExecPdeathsig(); err != nil {
		return err
	}
	return syscall.Exec(bin, argv, env)
}
