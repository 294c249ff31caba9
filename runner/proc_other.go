//go:build !unix

package runner

import (
	"errors"
	"os"
	"os/exec"
)

// setProcessGroup does nothing where process groups are not available:
// cancelling kills only the command itself.
func setProcessGroup(cmd *exec.Cmd) {}

// interruptGroup kills p: there is no SIGINT to send.
func interruptGroup(p *os.Process) error { return p.Kill() }

// killGroup does nothing: there are no process groups.
func killGroup(int) error { return nil }

// groupExists reports false: there are no process groups.
func groupExists(int) bool { return false }

// childGroupLeaders finds nothing: there are no process groups.
func childGroupLeaders(string) []int { return nil }

// execProcess runs bin and exits with its exit code, where exec(2) is not available.
func execProcess(bin string, argv, env []string) error {
	cmd := exec.Command(bin, argv[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		return err
	}
	os.Exit(0)
	return nil
}
