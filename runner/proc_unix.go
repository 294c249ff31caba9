//go:build unix

package runner

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts cmd in a process group of its own and makes cancelling
// it kill the whole group, so a run step's children do not outlive it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
