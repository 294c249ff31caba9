//go:build !unix

package runner

import "os/exec"

// setProcessGroup does nothing where process groups are not available:
// cancelling kills only the shell.
func setProcessGroup(cmd *exec.Cmd) {}
