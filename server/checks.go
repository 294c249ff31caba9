package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// checkExternalIDPrefix starts the external ID of Atoll's check runs
// (vcs/github.CheckExternalIDPrefix).
const checkExternalIDPrefix = "atoll:"

// checkRef is what a check run's external ID holds: the command a "Re-run"
// runs again.
type checkRef struct {
	Command   string `json:"c"`
	Dir       string `json:"d"`
	Workspace string `json:"w"`
}

// reportCheck creates a check run for one project's result of stage
// ("plan", "policy_check" or "apply") when Atoll runs as a GitHub App
// (Config.Checks). A failure to create it is logged: the comment and the
// commit statuses say the same.
func (r *prRun) reportCheck(ctx context.Context, stage string, res templates.Project) {
	if r.s.cfg.Checks == nil || r.pull.Num == 0 || res.Status == "" {
		return
	}
	title, summary, text, err := templates.CheckRun(stage, res, r.jobURL())
	if err != nil {
		r.log.Error("render check run", "error", err)
		return
	}
	conclusion := "success"
	switch {
	case stage == "policy_check" && res.PolicyFailed():
		conclusion = "failure"
	case res.Status == templates.StatusError:
		conclusion = "failure"
	case res.Status == templates.StatusRefused || res.Status == templates.StatusLocked:
		conclusion = "action_required"
	}
	ref, _ := json.Marshal(checkRef{Command: CmdPlan, Dir: res.Dir, Workspace: res.WorkspaceName()})
	run := vcs.CheckRun{Name: fmt.Sprintf("atoll/%s: %s (%s)", stage, res.Label(), res.WorkspaceName()), HeadSHA: r.codeSHA(),
		Conclusion: conclusion, Title: title, Summary: summary, Text: text, DetailsURL: r.jobURL(),
		ExternalID: checkExternalIDPrefix + string(ref)}
	if _, err := r.s.cfg.Checks.CreateCheckRun(ctx, r.w.Repo, run); err != nil {
		r.log.Error("create check run", "name", run.Name, "error", err)
	}
}

// checkRerunCommand is the command a rerequested check run asks for: a plan
// of its project. The external ID comes from a signed webhook but is
// checked like a comment's arguments.
func checkRerunCommand(externalID string) (Command, error) {
	raw, ok := strings.CutPrefix(externalID, checkExternalIDPrefix)
	var ref checkRef
	if !ok || json.Unmarshal([]byte(raw), &ref) != nil || ref.Command != CmdPlan {
		return Command{}, fmt.Errorf("not an Atoll check run")
	}
	dir, err := CleanDir(ref.Dir)
	if err != nil {
		return Command{}, fmt.Errorf("check run directory: %w", err)
	}
	if !workspaceRe.MatchString(ref.Workspace) {
		return Command{}, fmt.Errorf("check run workspace %q is not valid", ref.Workspace)
	}
	return Command{Name: CmdPlan, Dir: dir, Workspace: ref.Workspace,
		Raw: fmt.Sprintf("atoll plan -d %s -w %s (Re-run of its check)", dir, ref.Workspace)}, nil
}
