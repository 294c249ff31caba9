package server

import (
	"context"
	"fmt"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
)

// runHooks runs the repo's pre or post workflow hooks for command in the
// repository root. Unlike Atlantis's default, a failing pre hook stops the
// command: hooks usually generate config, and planning without it would plan
// the wrong thing. Post hook failures are reported but change nothing.
func (r *prRun) runHooks(ctx context.Context, stage, command string, hooks []config.Hook) bool {
	for i, h := range hooks {
		if len(h.Commands) > 0 && !contains(h.Commands, command) {
			continue
		}
		name := h.Description
		if name == "" {
			name = fmt.Sprintf("%s_workflow_hooks[%d]", stage, i)
		}
		fmt.Fprintf(r.job, "\n=== %s workflow hook: %s ===\n", stage, name)
		env := config.RunEnv(config.RunEnvInput{RepoRoot: r.dir, Command: command, Pull: r.pull.Num, PullURL: r.pull.URL,
			PullAuthor: r.pull.Author, HeadSHA: r.pull.HeadSHA, HeadBranch: r.pull.HeadBranch, BaseBranch: r.pull.BaseBranch,
			BaseRepoOwner: r.w.Repo.Owner, BaseRepoName: r.w.Repo.Name, HeadRepoOwner: r.pull.HeadRepo.Owner,
			HeadRepoName: r.pull.HeadRepo.Name, User: r.w.User, CommentArgs: r.w.Command.ExtraArgs})
		_, err := r.s.cfg.Runner.Run(ctx, runner.Job{Dir: r.dir, ProjectDir: ".", Workspace: "default", Env: env, Log: r.job,
			Logger: r.log, Steps: []config.Step{{Kind: config.StepRun, Run: h.Run, Shell: h.Shell, ShellArgs: h.ShellArgs}}})
		if err == nil {
			continue
		}
		step, code, out := errorOutput(err)
		r.log.Info("workflow hook failed", "stage", stage, "hook", name, "step", step, "exit_code", code)
		if stage == "post" {
			continue
		}
		statusCtx := statusPlan
		if command == CmdApply {
			statusCtx = statusApply
		}
		res := templates.Project{Name: "pre_workflow_hooks", Dir: ".", Status: templates.StatusError, Step: "run: " + name,
			ExitCode: code, Output: out}
		r.setStatus(ctx, statusCtx, "failure", "pre workflow hook failed: "+name)
		body, rerr := templates.Plan(templates.Comment{Command: command, Projects: []templates.Project{res}, JobURL: r.jobURL(), Now: r.s.cfg.Now()})
		if command == CmdApply {
			body, rerr = templates.Apply(templates.Comment{Command: command, Projects: []templates.Project{res}, JobURL: r.jobURL(), Now: r.s.cfg.Now()})
		}
		if rerr == nil {
			r.comment(ctx, body)
		}
		return false
	}
	return true
}
