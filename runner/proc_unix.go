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

// execProcess replaces this process with bin, keeping its pid, signals and
// exit code, as the terraform shim needs.
func execProcess(bin string, argv, env []string) error {
	return syscall.Exec(bin, argv, env)
}
