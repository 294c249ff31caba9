package server

import (
	"strings"
	"testing"
)

// A check run's external ID comes back in a webhook: only a well-formed
// plan of a clean directory and a valid workspace is run again.
func TestCheckRerunCommand(t *testing.T) {
	t.Parallel()
	cmd, err := checkRerunCommand(`atoll:{"c":"plan","d":"network","w":"default"}`)
	if err != nil || cmd.Name != CmdPlan || cmd.Dir != "network" || cmd.Workspace != "default" || !strings.Contains(cmd.Raw, "Re-run") {
		t.Errorf("checkRerunCommand = %+v, %v", cmd, err)
	}
	for _, bad := range []string{
		`other:{"c":"plan","d":"network","w":"default"}`,
		`atoll:{"c":"apply","d":"network","w":"default"}`,
		`atoll:{"c":"plan","d":"../etc","w":"default"}`,
		`atoll:{"c":"plan","d":"/abs","w":"default"}`,
		`atoll:{"c":"plan","d":"network","w":"-lock=false"}`,
		`atoll:not json`,
	} {
		if cmd, err := checkRerunCommand(bad); err == nil {
			t.Errorf("checkRerunCommand(%q) = %+v, want an error", bad, cmd)
		}
	}
}
