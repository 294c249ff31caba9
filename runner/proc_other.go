//go:build !unix

package runner

import (
	"errors"
	"os"
	"os/exec"
)

// setProcessGroup does nothing where process groups are not available:
// cancelling kills only the shell.
func setProcessGroup(cmd *exec.Cmd) {}

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
