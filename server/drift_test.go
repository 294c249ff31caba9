package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/drift"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// recDrift is a DriftDetector that records Remediate calls and answers them
// with rem.
type recDrift struct {
	rem drift.Remediation
	err error

	mu    sync.Mutex // guards calls
	calls []vcs.Repo
}

func (d *recDrift) CheckRepo(context.Context, vcs.Repo) ([]drift.Result, error) { return nil, nil }

func (d *recDrift) Results() []drift.Result { return nil }

func (d *recDrift) Remediate(_ context.Context, repo vcs.Repo, _ int) (drift.Remediation, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, repo)
	return d.rem, d.err
}

func (d *recDrift) remediated() []vcs.Repo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]vcs.Repo(nil), d.calls...)
}

// TestDriftApply: `atoll apply` on a drift issue remediates only watched
// repositories, is authorised by the team allowlist of the default branch,
// and reports the outcome on the issue.
func TestDriftApply(t *testing.T) {
	t.Parallel()
	// main is guarded; sandbox branches let anyone apply. A drift apply is to
	// main, so only @sre may run it.
	reposYAML := `repos:
- id: /.*/
  branch: /^main$/
  team_allowlist: "@sre:apply, *:plan"
- id: /.*/
  branch: /^sandbox-.*$/
  team_allowlist: "*:*"
`
	rc, err := config.ParseServerConfig("repos.yaml", []byte(reposYAML))
	if err != nil {
		t.Fatal(err)
	}
	watched := testRepo
	watched.DefaultBranch = "main"
	other := vcs.Repo{Host: "github.com", Owner: "acme", Name: "other", DefaultBranch: "main"}
	applied := drift.Remediation{Before: drift.Result{Project: "net", Dir: "net", Workspace: "default", Status: drift.Drifted},
		Output: "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.\n"}
	tests := []struct {
		name          string
		repo          vcs.Repo
		user          string
		command       string
		rem           drift.Remediation
		remErr        error
		wantRemediate bool
		wantComment   string // "" when no comment may be made
	}{
		{name: "allowed user applies", repo: watched, user: "sre", command: CmdApply, rem: applied, wantRemediate: true,
			wantComment: "Apply complete!"},
		{name: "main's allowlist, not the sandbox branches', decides", repo: watched, user: "mallory", command: CmdApply,
			wantComment: "@mallory may not run `atoll apply`"},
		{name: "repository not watched", repo: other, user: "sre", command: CmdApply},
		{name: "only apply runs on a drift issue", repo: watched, user: "sre", command: CmdPlan,
			wantComment: "On a drift issue Atoll runs only `atoll apply`"},
		{name: "a failed fresh check says why nothing was applied", repo: watched, user: "sre", command: CmdApply,
			rem: drift.Remediation{Before: drift.Result{Project: "net", Dir: "net", Workspace: "default", Status: drift.Failed,
				Error: "init failed (exit code 1):\nError: backend unreachable"}},
			wantRemediate: true, wantComment: "backend unreachable"},
		{name: "a failed check after the apply is said", repo: watched, user: "sre", command: CmdApply,
			rem: drift.Remediation{Before: applied.Before, Output: applied.Output,
				After: drift.Result{Status: drift.Failed, Error: "check out main: boom"}},
			wantRemediate: true, wantComment: "The check after the apply failed"},
		{name: "an issue that is not a drift issue", repo: watched, user: "sre", command: CmdApply, remErr: drift.ErrUnknownIssue,
			wantRemediate: true, wantComment: "not about a drifting project"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			det := &recDrift{rem: tt.rem, err: tt.remErr}
			run := func(context.Context, runner.Job) (runner.Result, error) {
				return runner.Result{}, errors.New("no terraform here")
			}
			s, gh := newPipelineServer(t, Config{Drift: det, DriftRepos: []vcs.Repo{watched}, RepoCfg: rc}, openPull(), run)
			s.Execute(context.Background(), Work{ID: newJobID(), Kind: WorkDriftApply, Repo: tt.repo, Pull: vcs.PullRequest{Num: 9},
				Command: Command{Name: tt.command}, User: tt.user})
			calls := det.remediated()
			if got := len(calls) == 1; got != tt.wantRemediate || len(calls) > 1 {
				t.Errorf("Remediate called %d times, want called: %v", len(calls), tt.wantRemediate)
			}
			for _, r := range calls {
				if r.DefaultBranch != "main" || r.ID() != watched.ID() {
					t.Errorf("Remediate on %+v, want the watched repo", r)
				}
			}
			comments := gh.allComments()
			switch {
			case tt.wantComment == "" && len(comments) != 0:
				t.Errorf("comments %q, want none", comments)
			case tt.wantComment != "" && !strings.Contains(strings.Join(comments, "\n"), tt.wantComment):
				t.Errorf("comments %q lack %q", comments, tt.wantComment)
			}
		})
	}
}
