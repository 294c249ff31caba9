package templates

import (
	"testing"
	"time"
)

func TestStateGolden(t *testing.T) {
	t.Parallel()
	p := Project{Dir: "infra", Workspace: "default"}
	tests := []struct {
		name string
		data StateData
		want []string
	}{
		{"state_import", StateData{Command: "import", Project: p, Addresses: []string{`sandbox_server.web`}, ImportID: "srv-1", Status: StateDone,
			Output: "sandbox_server.web: Importing from ID \"srv-1\"...\nImport successful!\n", PlanDiscarded: true},
			[]string{"### Imported `sandbox_server.web` into `infra` · workspace `default`", "plan is now stale", "`atoll plan -d infra`", "Import successful!"}},
		{"state_rm", StateData{Command: "state rm", Project: p, Addresses: []string{`sandbox_server.web`, `module.a["x"]`}, Status: StateDone,
			Output: "Removed sandbox_server.web\nSuccessfully removed 1 resource instance(s).\n"},
			[]string{"### Removed 2 addresses from the state of `infra`", "- `module.a[\"x\"]`", "run `atoll plan -d infra` again"}},
		{"state_error", StateData{Command: "import", Project: Project{Dir: "infra", Workspace: "default", Step: "import", ExitCode: 1,
			Output: "Error: Cannot import non-existent remote object\n"}, Addresses: []string{"sandbox_server.web"}, ImportID: "srv-9", Status: StatusError, JobURL: jobURL},
			[]string{"### Import failed for `infra`", "`import` failed with exit code 1", "Cannot import non-existent remote object", "[Full log]("}},
		{"state_locked", StateData{Command: "state rm", Project: Project{Dir: "infra", Workspace: "default", Lock: &LockInfo{Pull: 12, User: "carol", Since: now.Add(-2 * time.Hour)}},
			Addresses: []string{"sandbox_server.web"}, Status: StatusLocked, Now: now},
			[]string{"locked by #12", "(@carol, planned 2 hours ago)", "its state was not changed here"}},
		{"state_refused", StateData{Command: "import", Project: Project{Dir: "infra", Workspace: "default", Reason: "Ask a reviewer with write access, other than the author, to approve the latest commit.",
			Requirements: []Requirement{{Name: "approved", Detail: "needs 1 approving review", Source: "the server's repos.yaml for `/.*/`"}}},
			Addresses: []string{"sandbox_server.web"}, ImportID: "srv-1", Status: StatusRefused},
			[]string{"### Import blocked for `infra`", "requirement `approved` is not met (set by the server's repos.yaml for `/.*/`)", "❌ approved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := State(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			checkComment(t, got, tt.want)
			golden(t, tt.name, got)
		})
	}
}

func TestCancelGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data CancelData
		want []string
	}{
		{"cancel", CancelData{User: "alice", Jobs: []CancelledJob{{What: "plan of `network` (default)", Running: true, Ran: 12300 * time.Millisecond}, {What: "1 queued apply"}}, LocksURL: locksURL},
			[]string{"### Cancelled: plan of `network` (default), running 12 s; 1 queued apply", "Cancelled by @alice", "keeps its locks"}},
		{"cancel_none", CancelData{User: "alice"}, []string{"### Nothing to cancel"}},
		{"cancel_unanswered", CancelData{User: "alice", Jobs: []CancelledJob{{What: "2 queued plans"}}, Unanswered: 1},
			[]string{"1 running job on another Atoll replica did not confirm yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Cancel(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			checkComment(t, got, tt.want)
			golden(t, tt.name, got)
		})
	}
}

func TestJobCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data JobCancelledData
		want []string
	}{
		{JobCancelledData{Command: "`atoll plan -d network`", By: "alice", Ran: 75 * time.Second}, []string{"**`atoll plan -d network` was cancelled by @alice** after 1 min 15 s."}},
		{JobCancelledData{Command: "`autoplan`", HeadSHA: "0123456789abcdef", Ran: 3 * time.Second}, []string{"was cancelled** after 3 s: a new push (`0123456`) is planned instead"}},
		{JobCancelledData{Command: "`atoll apply`", By: "bob", Ran: time.Minute, Apply: true}, []string{"after 1 min.", "may have changed some resources"}},
	}
	for _, tt := range tests {
		got, err := JobCancelled(tt.data)
		if err != nil {
			t.Fatal(err)
		}
		checkComment(t, got, tt.want)
	}
}
